"""Driving one plugin object: params, event splitting, fallback, NaN screening, state.

Shared by the worker (sandbox) and the in-process runner, so both call plugin code the
same way. Plugin code is untrusted even in-process: everything it returns is copied into
plain data (state goes through a JSON round trip) and every exception, of any kind, is
caught by the caller of :meth:`PluginRunner.process_block`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from ._restricted import load_plugin_class

if TYPE_CHECKING:
    from ._stages import StageRunner

Fallback = Literal["bypass", "silence"]
Buffer = npt.NDArray[np.float32]
#: Longest error text kept per block (the worker's shared error area holds this much).
ERROR_CAPACITY: Final = 400
#: Largest latency a plugin may declare (10 s at 48 kHz); larger is treated as a bug.
MAX_LATENCY: Final = 480_000


def apply_fallback(mode: str, inp: Buffer, out: Buffer) -> None:
    """[audio-thread & processing] Write the node's fallback: the input, or silence.

    Bypass falls back to silence when the shapes differ (a source has no input).
    """
    if mode == "bypass" and inp.shape == out.shape:
        np.copyto(out, inp)
    else:
        out.fill(0.0)


def all_finite(buf: Buffer, zeros: Buffer) -> bool:
    """[audio-thread & processing] True when ``buf`` holds no NaN or Inf.

    Why a dot product with zeros: any NaN/Inf turns the product into NaN, finite values give
    exactly 0 — one BLAS call, no temporary array. ``buf`` must be C-contiguous.
    """
    flat = buf.reshape(-1)
    return math.isfinite(float(np.dot(flat, zeros[: flat.size])))


def run_stage(
    runner: StageRunner,
    fallback: str,
    inp: Buffer,
    out: Buffer,
    start: int,
    events: Sequence[tuple[int, int, float]],
    zeros: Buffer,
) -> tuple[str, bool]:
    """[audio-thread & processing] Run one plugin; on exception or NaN/Inf write its fallback.

    Returns:
        ``(error, non_finite)``: the exception as ``"Type: message"`` ("" when none) and
        whether the output held NaN/Inf, so the caller can count and report them.
    """
    try:
        runner.process_block(inp, out, start, events)
    except BaseException as exc:  # plugin code may raise anything; contained here
        apply_fallback(fallback, inp, out)
        return f"{type(exc).__name__}: {exc}"[:ERROR_CAPACITY], False
    if all_finite(out, zeros):
        return "", False
    apply_fallback(fallback, inp, out)
    return "", True


def clean_state(state: object) -> dict[str, Any]:
    """[main-thread] Copy plugin state into plain JSON data, refusing anything else.

    Raises:
        TypeError: ``state`` is not a JSON-serialisable dict.
    """
    if not isinstance(state, dict):
        raise TypeError(f"get_state() must return a dict, not {type(state).__name__}")
    result = json.loads(json.dumps(state, allow_nan=False))
    assert isinstance(result, dict)
    return result


class PluginRunner:
    """One plugin instance with its current parameter values.

    Attributes:
        latency_samples: the plugin's declared latency, validated.
    """

    def __init__(
        self,
        source: bytes,
        filename: str,
        class_name: str,
        params: Mapping[str, float],
        ranges: Mapping[str, tuple[float, float]],
    ) -> None:
        """[main-thread] Compile and instantiate the plugin class (no arguments)."""
        cls = load_plugin_class(source, filename, class_name)
        self._ranges = dict(ranges)
        self.params: dict[str, float] = {k: float(v) for k, v in params.items()}
        self._names = tuple(self._ranges)
        self._obj = cls()
        self._obj.params = dict(self.params)
        latency = getattr(cls, "latency_samples", 0)
        if not isinstance(latency, int) or not 0 <= latency <= MAX_LATENCY:
            raise TypeError(f"latency_samples must be an int in [0, {MAX_LATENCY}]")
        self.latency_samples = latency

    @classmethod
    def from_stage(cls, stage: Mapping[str, Any]) -> PluginRunner:
        """[worker main-thread] A runner for one ``python`` stage document of a worker config."""
        ranges = {k: (float(v[0]), float(v[1])) for k, v in stage["ranges"].items()}
        source = str(stage["source"]).encode()
        return cls(source, stage["filename"], stage["class"], stage["params"], ranges)

    @property
    def param_names(self) -> tuple[str, ...]:
        """[any-thread] Declared parameter names, in the order events index them."""
        return self._names

    def _call(self, name: str, *args: Any) -> Any:
        method = getattr(self._obj, name, None)
        return method(*args) if callable(method) else None

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Call the plugin's optional ``prepare``."""
        self._call("prepare", sample_rate, max_block, channels)

    def reset(self) -> None:
        """[main-thread] Call the plugin's optional ``reset``."""
        self._call("reset")

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Parameter values plus the plugin's own (optional) state."""
        state: dict[str, Any] = {"params": dict(self.params)}
        if callable(getattr(self._obj, "get_state", None)):
            state["plugin"] = clean_state(self._call("get_state"))
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """[main-thread] Restore parameter values and the plugin's own state."""
        for name, value in dict(state.get("params", {})).items():
            self.set_param(str(name), float(value))
        plugin_state = state.get("plugin")
        if isinstance(plugin_state, dict):
            self._call("set_state", clean_state(plugin_state))

    def set_param(self, name: str, value: float) -> None:
        """[any-thread & !processing] Set a declared parameter, clamped to its range."""
        bounds = self._ranges.get(name)
        if bounds is None or not math.isfinite(value):
            return
        self.params[name] = min(max(value, bounds[0]), bounds[1])
        self._obj.params[name] = self.params[name]

    def process_block(
        self, inp: Buffer, out: Buffer, start: int, events: Sequence[tuple[int, int, float]]
    ) -> None:
        """[audio-thread & processing] Run the plugin, splitting at event offsets.

        ``events`` are ``(offset, param index, value)`` sorted by offset; between spans the
        plugin's ``self.params`` is updated, and ``process`` always receives ``events=()``.
        Exceptions propagate: the caller decides the fallback.
        """
        process = self._obj.process
        if not events:
            process(inp, out, start, ())
            return
        frames = out.shape[1]
        pos = 0
        for offset, index, value in events:
            offset = min(max(offset, 0), frames)
            if offset > pos:
                process(inp[:, pos:offset], out[:, pos:offset], start + pos, ())
                pos = offset
            if 0 <= index < len(self._names):
                self.set_param(self._names[index], value)
        if pos < frames:
            process(inp[:, pos:], out[:, pos:], start + pos, ())


def param_ranges(specs: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """[main-thread] Declared ``(min, max)`` per parameter, from manifest ``params``."""
    ranges: dict[str, tuple[float, float]] = {}
    for spec in specs:
        low = float(spec.get("min", -math.inf))
        high = float(spec.get("max", math.inf))
        ranges[str(spec["name"])] = (low, high)
    return ranges


def initial_params(
    specs: Sequence[Mapping[str, Any]], given: Mapping[str, Any]
) -> dict[str, float]:
    """[main-thread] Defaults from the manifest, overridden by the node's numeric ``params``."""
    values = {str(spec["name"]): float(spec.get("default", 0.0)) for spec in specs}
    for name, value in given.items():
        if name in values and isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
    return values
