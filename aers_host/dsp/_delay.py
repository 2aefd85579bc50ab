"""Feedback delay, usable inside a graph cycle through a two-phase read/write API.

Semantics, sample-exact, for a delay of ``D ≥ 1`` samples::

    wet[n] = w[n - D]
    w[n]   = x[n] + feedback · wet[n]
    y[n]   = (1 - mix) · x[n] + mix · wet[n]

so with ``mix = 1`` and ``feedback = 0`` an impulse at sample 0 leaves at exactly sample
``D``. ``D = 0`` is a plain wire (``wet = x``; feedback has nothing to act on). The delay
is an effect, not latency: ``latency_samples`` is 0 and the planner does not compensate it.

Two-phase API for cycles (requires ``frames ≤ D``): :meth:`Delay.feedback_read` computes the
block's ``wet`` from past samples only and writes ``out``; the engine then runs the rest of
the cycle and hands the delay its final input with :meth:`Delay.feedback_write`, which
writes the line and advances it. ``feedback_read(x) + feedback_write(x)`` equals
``process(x)`` bit for bit.

Example:
    >>> import numpy as np
    >>> d = Delay(2); d.prepare(48000, 4, 1)
    >>> out = np.zeros((1, 4), np.float32)
    >>> d.process(np.array([[1, 0, 0, 0]], np.float32), out, 0, ())
    >>> out.tolist()
    [[0.0, 0.0, 1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._nodetype import BuiltinNodeType, CheckContext, NodeTraits
from .._processor import BlockKernel, Buffer, ParamEvent, ParamSpec, ProcessorBase
from ._common import kernel, load_state_array, numeric_values, state_array
from ._warm import WARM_FRAMES, warm_processor

#: Longest delay accepted, in samples (about 87 s at 48 kHz).
MAX_DELAY_SAMPLES = 1 << 22


def delay_samples(params: Mapping[str, Any], sample_rate: int) -> int:
    """[any-thread] The delay ``D`` in samples for ``params`` (``samples`` or ``ms``, default 0).

    The validator uses it to check that a graph cycle's delay is at least one block long.
    The schema forbids giving both; should both arrive anyway, ``samples`` wins.
    """
    if params.get("samples") is not None:
        return int(params["samples"])
    return round(float(params.get("ms", 0.0)) * sample_rate / 1000.0)


@kernel
def _delay_kernel(
    inp: Buffer, out: Buffer, line: np.ndarray, pos: int, mix: float, feedback: float
) -> int:  # pragma: no cover - compiled
    """Run the delay line over the span; returns the new write position.

    The span is cut where the ring wraps, so each piece is a straight loop over row slices
    indexed from 0, which the compiler vectorises (per sample it is the same arithmetic).
    """
    channels, frames = inp.shape
    length = line.shape[1]
    done = 0
    while done < frames:
        n = min(frames - done, length - pos)
        for c in range(channels):
            src, dst = inp[c, done : done + n], out[c, done : done + n]
            ring = line[c, pos : pos + n]
            for m in range(n):
                x = float(src[m])
                wet = ring[m]
                ring[m] = x + feedback * wet
                dst[m] = (1.0 - mix) * x + mix * wet
        done += n
        pos += n
        if pos == length:
            pos = 0
    return pos


@kernel
def _delay_block(
    inp: Buffer, out: Buffer, line: np.ndarray, at: np.ndarray, knobs: np.ndarray, start: int
) -> None:  # pragma: no cover - compiled
    """:func:`_delay_kernel` as a block call (``start`` unused).

    ``at[0]`` is the write position, ``knobs`` holds mix and feedback.
    """
    at[0] = _delay_kernel(inp, out, line, at[0], knobs[0], knobs[1])


@kernel
def _delay_read(
    inp: Buffer, out: Buffer, line: np.ndarray, pos: int, wet: np.ndarray,
    fb: np.ndarray, lo: int, hi: int, mix: float, feedback: float,
) -> None:  # pragma: no cover - compiled
    """Frames ``lo:hi`` of the read phase: wet from the line, out, per-frame feedback."""
    length = line.shape[1]
    for n in range(lo, hi):
        p = (pos + n) % length
        for c in range(inp.shape[0]):
            w = line[c, p]
            wet[c, n] = w
            out[c, n] = (1.0 - mix) * float(inp[c, n]) + mix * w
        fb[n] = feedback


@kernel
def _delay_write(
    total: Buffer, line: np.ndarray, pos: int, wet: np.ndarray, fb: np.ndarray
) -> int:  # pragma: no cover - compiled
    """The write phase: ``w = total + fb·wet`` into the line; returns the new position."""
    length = line.shape[1]
    for n in range(total.shape[1]):
        for c in range(total.shape[0]):
            line[c, pos] = float(total[c, n]) + fb[n] * wet[c, n]
        pos += 1
        if pos == length:
            pos = 0
    return pos


class Delay(ProcessorBase):
    """Feedback delay of ``samples`` (or ``ms``) with ``feedback`` and dry/wet ``mix``."""

    PARAMS = (
        ParamSpec("feedback", 0.0, -0.99, 0.99, "", "share of the wet signal fed back"),
        ParamSpec("mix", 1.0, 0.0, 1.0, "", "0 dry … 1 wet"),
    )

    def __init__(self, samples: int = 0, *, ms: float | None = None, **values: float) -> None:
        super().__init__(**values)
        self._params: dict[str, Any] = {"samples": int(samples)} if ms is None else {"ms": ms}
        self.delay = int(samples)
        self._line = np.zeros((0, 1), np.float64)
        #: The line's write position, in an array so a compiled block call advances it.
        self._at = np.zeros(1, np.int64)
        self._wet = np.zeros((0, 0), np.float64)
        self._fb = np.zeros(0, np.float64)
        self._pending = -1
        self._mix = self._feedback = 0.0
        self._knobs = np.zeros(2, np.float64)  # mix, feedback: what a block call reads

    @property
    def _pos(self) -> int:
        return int(self._at[0])

    @_pos.setter
    def _pos(self, value: int) -> None:
        self._at[0] = value

    def _on_param(self, name: str) -> None:
        self._mix, self._feedback = self.values["mix"], self.values["feedback"]
        self._knobs[0], self._knobs[1] = self._mix, self._feedback

    @property
    def min_feedback_delay(self) -> int:
        """[any-thread] ``D`` in samples: the longest block this delay can close a cycle with."""
        return self.delay

    def _allocate(self) -> None:
        self.delay = delay_samples(self._params, self.sample_rate)
        if not 0 <= self.delay <= MAX_DELAY_SAMPLES:
            raise ValueError(f"delay of {self.delay} samples is outside 0..{MAX_DELAY_SAMPLES}")
        self._line = np.zeros((self.channels, max(self.delay, 1)), np.float64)
        self._wet = np.zeros((self.channels, self.max_block), np.float64)
        self._fb = np.zeros(self.max_block, np.float64)
        self.reset()

    def reset(self) -> None:
        """[main-thread & !processing] Empty the line."""
        self._line.fill(0.0)
        self._pos = 0
        self._pending = -1

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Delay the span (a wire when ``D = 0``)."""
        if self.delay == 0:
            np.copyto(out, inp)
            return
        _delay_block(inp, out, self._line, self._at, self._knobs, start)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel | None:
        """[main-thread & !processing] :meth:`render` on fixed views (None for a wire)."""
        if self.delay == 0:
            return None
        return BlockKernel(_delay_block, (inp, out, self._line, self._at, self._knobs))

    def feedback_read(
        self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]
    ) -> None:
        """[audio-thread & processing] Phase 1 in a cycle: ``out`` from past samples only.

        Computes ``wet`` for the whole block from the line and writes
        ``out = (1 - mix)·inp + mix·wet`` without advancing the line. ``inp`` is whatever input
        is known now (zeros when all of it comes through the cycle); only the dry part uses it.

        Raises:
            ValueError: the block is longer than the delay (the cycle would need future samples)
                or than the prepared ``max_block``.
        """
        frames = out.shape[1]
        if frames > self.delay:
            raise ValueError(
                f"a {self.delay}-sample delay cannot close a cycle for {frames}-frame blocks"
            )
        if frames > self.max_block or out.shape[0] != self.channels:
            raise ValueError(
                f"block {out.shape} does not fit the prepared ({self.channels}, {self.max_block})"
            )
        lo = 0
        for event in events:
            offset = min(max(event.offset, 0), frames)
            if offset > lo:
                self._read_span(inp, out, lo, offset)
                lo = offset
            self._apply_event(event)
        if lo < frames:
            self._read_span(inp, out, lo, frames)
        self._pending = frames

    def _read_span(self, inp: Buffer, out: Buffer, lo: int, hi: int) -> None:
        _delay_read(
            inp, out, self._line, self._pos, self._wet, self._fb, lo, hi, self._mix, self._feedback
        )

    def feedback_write(self, total_inp: Buffer) -> None:
        """[audio-thread & processing] Phase 2: write ``total_inp + feedback·wet`` and advance.

        Raises:
            RuntimeError: not preceded by :meth:`feedback_read` for a block of the same length.
        """
        if total_inp.shape[1] != self._pending or total_inp.shape[0] != self.channels:
            raise RuntimeError(
                "feedback_write must follow feedback_read with the same frames and channels"
            )
        self._pos = _delay_write(total_inp, self._line, self._pos, self._wet, self._fb)
        self._pending = -1

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params, the line contents (float64 lists) and the write position."""
        return {
            **super().get_state(),
            "delay": self.delay,
            "line": state_array(self._line),
            "pos": self._pos,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and, when prepared, the line.

        Raises:
            SessionError: the saved line does not fit (other rate, channels or delay).
        """
        super().set_state(state)
        if "line" in state and self.sample_rate:
            load_state_array(self._line, state["line"], "delay line")
            self._pos = int(state.get("pos", 0)) % self._line.shape[1]


#: ``mix`` when the params leave it out.
_DEFAULT_MIX: float = next(spec.default for spec in Delay.PARAMS if spec.name == "mix")


def onset_samples(params: Mapping[str, Any], sample_rate: int) -> int:
    """[any-thread] Samples the node moves an input's *first* sample by (its latency is 0).

    With ``mix = 1`` (the default) only the wet signal leaves the node, so the onset
    leaves :func:`delay_samples` later. With any dry share (``mix < 1``) the input leaves
    at once, the echo follows later: the onset is the dry one, delay 0. The configured
    ``mix`` counts; automating it across 1 during a render is not followed.

    Example:
        >>> onset_samples({"samples": 100}, 48000), onset_samples({"ms": 1, "mix": 0.5}, 48000)
        (100, 0)
    """
    mix = float(params.get("mix", _DEFAULT_MIX))
    return delay_samples(params, sample_rate) if mix >= 1.0 else 0


def _warm() -> None:
    """Both process paths, then the two-phase feedback API a loop uses."""
    proc = Delay(2 * WARM_FRAMES, feedback=0.5, mix=0.5)
    inp, out = warm_processor(proc, 2, 2)
    proc.feedback_read(inp, out, 2 * WARM_FRAMES, ())
    proc.feedback_write(inp)


def _delay_factory(params: Mapping[str, Any], ctx: CheckContext) -> Delay:
    ms = None if params.get("samples") is not None else params.get("ms")
    proc = Delay(int(params.get("samples", 0)), ms=None if ms is None else float(ms))
    for name, value in numeric_values(params, Delay.PARAMS).items():
        proc.set_param(name, value)
    return proc


DELAY = BuiltinNodeType(
    name="delay",
    role="processor",
    summary="feedback delay (samples or ms); can close a graph cycle",
    factory=_delay_factory,
    specs=Delay.PARAMS,
    extra_properties={
        "samples": {"type": "integer", "minimum": 0, "maximum": MAX_DELAY_SAMPLES},
        "ms": {"type": "number", "minimum": 0, "maximum": 60000},
    },
    schema_extra={"not": {"required": ["samples", "ms"]}},
    traits=NodeTraits(
        linear=True, feedback_delay=delay_samples, onset_delay=onset_samples, warm=_warm
    ),
)
