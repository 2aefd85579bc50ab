"""The Processor interface every node implements, and a base class.

The interface is described in docs/architecture.md, "The Processor interface".

Built-in, sandboxed and native processors look the same to the engine:

* ``prepare(sample_rate, max_block, channels)`` — ``[main-thread & !active]``: allocate
  every buffer the processor will ever need; ``channels`` is the input channel count.
* ``process(inp, out, start, events)`` — ``[audio-thread & processing]``: read ``inp``
  (``float32``, shape ``(in_channels, frames)``; sources get zero channels), write every
  sample of ``out`` (shape ``(out_channels, frames)``), allocate nothing. ``start`` is the
  absolute sample index of the block's first frame; ``events`` are parameter changes at
  sample offsets inside the block, sorted by offset.
* ``reset()`` — clear internal state (delay lines, filter memories) as if just prepared.
* ``latency_samples`` — how late the output is relative to the input; fixed once prepared.
* ``get_state()``/``set_state()`` — JSON-serialisable state for sessions.

:class:`ProcessorBase` adds ``bind_block(inp, out)``: a ``call(start)`` bound to the
engine's fixed block views, equal to ``process(inp, out, start, ())``; the engine's fast
path uses it so a node costs one call with no Python frame or numba dispatch it can avoid.

Example:
    >>> import numpy as np
    >>> class Half(ProcessorBase):
    ...     def render(self, inp, out, start):
    ...         np.multiply(inp, 0.5, out=out)
    >>> p = Half(); p.prepare(48000, 4, 1)
    >>> out = np.zeros((1, 4), np.float32)
    >>> p.process(np.ones((1, 4), np.float32), out, 0, ())
    >>> float(out[0, 0])
    0.5
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from .errors import PluginValidationError

#: The buffer type that crosses every processor boundary.
Buffer = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ParamEvent:
    """A parameter change at ``offset`` samples into the current block."""

    offset: int
    param: str
    value: float


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A declared, automatable numeric parameter: what the validator and dashboard know."""

    name: str
    default: float
    min: float
    max: float
    unit: str = ""
    doc: str = ""
    #: Labelled values of an enumerated parameter (a filter type), as ``(value, label)``
    #: pairs — a manifest param's ``enum``; empty for a continuous one. Dashboards show
    #: a select; the range check is unchanged (a loader may snap to the nearest value).
    choices: tuple[tuple[float, str], ...] = ()

    def check(self, value: float) -> str | None:
        """Return why ``value`` is out of range, or None when it is acceptable."""
        if not np.isfinite(value):
            return f"{self.name} must be a finite number, got {value!r}"
        if not self.min <= value <= self.max:
            bounds = f"[{self.min:g}, {self.max:g}] {self.unit}".rstrip()
            return f"{self.name}={value:g} is outside {bounds}"
        return None


def compiled(kernel: Callable[..., Any], *args: Any) -> Callable[..., Any]:
    """[main-thread] ``kernel``'s compiled entry point for exactly the types of ``args``.

    Calling it skips numba's per-call dispatch, which types every argument (~0.1 µs, as much
    as a small kernel's work at 128 frames). It checks nothing, so only call it with
    arguments of the same types and layouts — in practice the engine's fixed block views and
    the processor's own state arrays, as a :meth:`ProcessorBase.bind_block` override does.
    Compiles or loads from the cache on first use; falls back to the dispatcher if numba's
    internals ever move.
    """
    import numba  # here: the interface itself must not pull in numba

    try:
        signature = tuple(numba.typeof(a) for a in args)  # type: ignore[no-untyped-call]
        kernel.compile(signature)  # type: ignore[attr-defined]
        return cast(Callable[..., Any], kernel.overloads[signature].entry_point)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, ValueError):  # pragma: no cover - numba moved
        return kernel


@dataclass(frozen=True, slots=True)
class BlockKernel:
    """A processor's event-free block as one compiled call: ``kernel(*args, start)``.

    ``kernel`` is a module-level numba kernel (``nogil``); ``args`` are the engine's
    fixed block views (input first, then output) and the processor's own state arrays and
    scalars. Everything that changes between blocks lives in those arrays, so the same
    call stays right for every block until the next :meth:`ProcessorBase.prepare`. The
    engine calls it through :func:`compiled`, and a lane program (docs/architecture.md,
    "Two cores") compiles a whole branch of such calls into one GIL-free function.
    """

    kernel: Callable[..., Any]
    args: tuple[Any, ...]


@runtime_checkable
class Processor(Protocol):
    """What the engine calls; see the module docstring for the contract of each method."""

    latency_samples: int

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None: ...

    def process(
        self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]
    ) -> None: ...

    def reset(self) -> None: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


class ProcessorBase:
    """Parameter bookkeeping and sample-accurate event splitting for processors.

    Subclasses declare ``PARAMS`` and implement :meth:`render` for a span of frames in which
    no parameter changes. :meth:`process` splits the block at each event's offset, so a
    change at offset 100 affects exactly the samples from 100 on, whatever the block size.
    Subclasses that need derived values (filter coefficients) override :meth:`_on_param`.
    """

    #: Automatable parameters of this processor type.
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = ()
    #: Parameters whose changes :meth:`render_changes` renders in one call. Dense automation
    #: (a change every sample, from a NumPy array) of any other parameter splits the block
    #: at every change, which is exact but costs a Python call per change.
    CHANGE_PARAMS: ClassVar[frozenset[str]] = frozenset()

    latency_samples: int = 0

    def __init__(self, **values: float) -> None:
        self._specs = {spec.name: spec for spec in self.PARAMS}
        self.values: dict[str, float] = {spec.name: float(spec.default) for spec in self.PARAMS}
        self.sample_rate = 0
        self.max_block = 0
        self.channels = 0
        for name, value in values.items():
            self.set_param(name, value)

    def set_param(self, name: str, value: float) -> None:
        """[any-thread & !processing] Set a declared parameter; refuse unknown or bad values."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self._specs) or "none"
            raise PluginValidationError(
                type(self).__name__, f"unknown parameter {name!r} (known: {known})"
            )
        problem = spec.check(float(value))
        if problem:
            raise PluginValidationError(type(self).__name__, problem)
        self.values[name] = float(value)
        if self.sample_rate:
            self._on_param(name)

    def _on_param(self, name: str) -> None:
        """Recompute whatever depends on parameter ``name``; called once prepared."""

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Remember the stream format and derive parameter state."""
        self.sample_rate = int(sample_rate)
        self.max_block = int(max_block)
        self.channels = int(channels)
        self._allocate()
        for name in self.values:
            self._on_param(name)

    def _allocate(self) -> None:
        """Allocate buffers for the prepared format; override in stateful processors."""

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Render the block, applying events at their offsets."""
        if not events:
            self.render(inp, out, start)
            return
        frames = out.shape[1]
        pos = 0
        for event in events:
            offset = min(max(event.offset, 0), frames)
            if offset > pos:
                self.render(inp[:, pos:offset], out[:, pos:offset], start + pos)
                pos = offset
            self._apply_event(event)
        if pos < frames:
            self.render(inp[:, pos:], out[:, pos:], start + pos)

    def bind_block(self, inp: Buffer, out: Buffer) -> Callable[[int], None]:
        """[main-thread & !processing] ``call(start)`` equal to ``process(inp, out, start, ())``.

        The engine binds each node once to its fixed block views and calls the result every
        event-free block: at 128 frames a node's kernel costs a few hundred nanoseconds, so
        the calls around it matter. The default adds no Python frame over :meth:`render`;
        processors whose kernel arguments are fixed override it to skip numba's per-call
        dispatch too (see :func:`compiled`), or give a :meth:`block_kernel`, from which
        the compiled call is made here. Valid until the next :meth:`prepare`.
        """
        block = self.block_kernel(inp, out)
        if block is not None:
            return functools.partial(compiled(block.kernel, *block.args, 0), *block.args)
        if type(self).process is not ProcessorBase.process:
            process = self.process
            return lambda start: process(inp, out, start, ())
        return functools.partial(self.render, inp, out)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel | None:
        """[main-thread & !processing] This node's block as one kernel call, or None.

        Equal to ``render(inp, out, start)`` on the fixed views, with every parameter's
        derived values read from the processor's arrays. None (the default) keeps the
        block in Python.
        """
        return None

    def process_changes(
        self,
        inp: Buffer,
        out: Buffer,
        start: int,
        param: str,
        at: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """[audio-thread & processing] :meth:`process` with changes of one parameter only.

        ``param`` (one of :attr:`CHANGE_PARAMS`) takes ``values[k]`` from absolute sample
        ``at[k]`` on (sorted, inside this block). The output is the same, sample for sample,
        as :meth:`process` given the same changes as events; only the per-change Python
        calls are gone.
        """
        self.render_changes(inp, out, start, param, at, values)
        spec = self._specs[param]
        self.values[param] = float(min(max(float(values[-1]), spec.min), spec.max))
        self._on_param(param)

    def render_changes(
        self,
        inp: Buffer,
        out: Buffer,
        start: int,
        param: str,
        at: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """[audio-thread & processing] Render with ``param`` changing at ``at`` (unclamped).

        Implemented by processors that list ``param`` in :attr:`CHANGE_PARAMS`.
        """
        raise NotImplementedError

    def _apply_event(self, event: ParamEvent) -> None:
        """Apply one automation event, clamping to the declared range (automation never throws)."""
        spec = self._specs.get(event.param)
        if spec is None:
            return
        self.values[event.param] = float(min(max(event.value, spec.min), spec.max))
        self._on_param(event.param)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Process frames with constant parameters."""
        raise NotImplementedError

    def reset(self) -> None:
        """[main-thread] Clear internal state; the default processor has none."""

    def get_state(self) -> dict[str, Any]:
        """Return the parameter values (subclasses add their internal state)."""
        return {"params": dict(self.values)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        for name, value in dict(state.get("params", {})).items():
            self.set_param(name, float(value))
