"""Gain, pan, mix and meter: the stateless-or-nearly building blocks.

Invariants:
    * ``gain`` smooths its linear factor per sample with a one-pole whose state carries across
      blocks, so the output does not depend on the block size; once settled the factor is
      exactly the target, so a steady gain gives exactly ``x * g``.
    * ``mix`` at 0 dB and ``meter`` are exact copies of their input.
    * ``pan`` uses the constant-power law ``θ = (pan + 1)·π/4``, ``L = cos θ``, ``R = sin θ``.

Example:
    >>> import numpy as np
    >>> g = Gain(gain_db=0.0); g.prepare(48000, 4, 1)
    >>> out = np.zeros((1, 4), np.float32)
    >>> g.process(np.full((1, 4), 0.5, np.float32), out, 0, ())
    >>> out.tolist()
    [[0.5, 0.5, 0.5, 0.5]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._features import RendersChanges
from .._nodetype import BuiltinNodeType, ChannelError, CheckContext, NodeTraits
from .._processor import BlockKernel, Buffer, ParamEvent, ParamSpec, ProcessorBase, compiled
from ._common import db_to_lin, kernel, numeric_values, state_array, time_constant
from ._warm import warm_processor

#: Smoother distance below which the gain snaps to its target (-180 dB: inaudible).
_SNAP = 1e-9


@kernel
def _gain_kernel(
    inp: Buffer, out: Buffer, state: np.ndarray, start: int
) -> None:  # pragma: no cover - compiled
    """Per-sample one-pole glide of the factor towards its target, applied to every channel.

    ``state`` is [current factor, target, coefficient]: all in one array, so a bound block
    call is a plain ``functools.partial`` (``start`` is unused, taken so it can pass through).

    Once the glide has settled (the usual case) the rest of the span is a plain multiply
    per channel. It runs on row slices indexed from 0: with an index that might be negative
    numba's wraparound check turns the vectorised loop into gathers and scatters.
    """
    g, target, coeff = state[0], state[1], state[2]
    channels, frames = inp.shape
    n = 0
    while n < frames and g != target:
        g = target + coeff * (g - target)
        if abs(g - target) < _SNAP:
            g = target
        for c in range(channels):
            out[c, n] = inp[c, n] * g
        n += 1
    for c in range(channels):
        src, dst = inp[c, n:], out[c, n:]
        for m in range(src.shape[0]):
            dst[m] = src[m] * g
    state[0] = g


@kernel
def _gain_changes_kernel(
    inp: Buffer,
    out: Buffer,
    state: np.ndarray,
    start: int,
    at: np.ndarray,
    values: np.ndarray,
    bounds: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """:func:`_gain_kernel` with ``gain_db`` changing to ``values[k]`` at sample ``at[k]``.

    Sample for sample the arithmetic of splitting the block at every change: the same
    clamp to ``bounds`` ([min dB, max dB, sign]), the same ``10 ** (dB / 20)`` as
    ``db_to_lin`` and the same glide, so dense automation renders identically either way.
    """
    g, target, coeff = state[0], state[1], state[2]
    low, high, sign = bounds[0], bounds[1], bounds[2]
    channels, frames = inp.shape
    k, count = 0, at.shape[0]
    for n in range(frames):
        while k < count and at[k] - start <= n:
            target = sign * 10.0 ** (min(max(values[k], low), high) / 20.0)
            k += 1
        if g != target:
            g = target + coeff * (g - target)
            if abs(g - target) < _SNAP:
                g = target
        for c in range(channels):
            out[c, n] = inp[c, n] * g
    state[0] = g
    state[1] = target


class Gain(ProcessorBase, RendersChanges):
    """Click-free gain: a one-pole smoother (``smoothing_ms``) on the linear factor.

    ``gain_db`` automated at audio rate renders in one kernel call per block
    (:meth:`render_changes`): tremolo or a NumPy envelope costs about what a static gain does.
    """

    PARAMS = (
        ParamSpec("gain_db", 0.0, -120.0, 24.0, "dB", "gain"),
        ParamSpec("smoothing_ms", 5.0, 0.0, 1000.0, "ms", "time constant of gain changes"),
    )
    CHANGE_PARAMS = frozenset({"gain_db"})

    def __init__(self, *, invert: bool = False, **values: float) -> None:
        self.invert = bool(invert)
        self._state = np.array([1.0, 1.0, 0.0])  # current factor, target, coefficient
        spec = self.PARAMS[0]
        self._bounds = np.array([spec.min, spec.max, -1.0 if self.invert else 1.0])
        super().__init__(**values)

    def _on_param(self, name: str) -> None:
        sign = -1.0 if self.invert else 1.0
        self._state[1] = sign * db_to_lin(self.values["gain_db"])
        self._state[2] = time_constant(self.values["smoothing_ms"], self.sample_rate)

    def _allocate(self) -> None:
        self._on_param("gain_db")
        self.reset()

    def reset(self) -> None:
        """[main-thread & !processing] Jump the smoother to the target (no fade-in at start)."""
        self._state[0] = self._state[1]

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Apply the smoothed gain."""
        _gain_kernel(inp, out, self._state, start)

    def render_changes(
        self,
        inp: Buffer,
        out: Buffer,
        start: int,
        param: str,
        at: np.ndarray,
        values: np.ndarray,
    ) -> None:
        """[audio-thread & processing] Apply ``gain_db`` changes inside the glide kernel."""
        _gain_changes_kernel(inp, out, self._state, start, at, values, self._bounds)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
        """[main-thread & !processing] :meth:`render` on fixed views."""
        return BlockKernel(_gain_kernel, (inp, out, self._state))

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params, ``invert`` and the smoother's current factor."""
        return {**super().get_state(), "invert": self.invert, "current": float(self._state[0])}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and the smoother position."""
        self.invert = bool(state.get("invert", self.invert))
        self._bounds[2] = -1.0 if self.invert else 1.0
        super().set_state(state)
        if self.sample_rate:
            self._on_param("gain_db")
        if "current" in state:
            self._state[0] = float(state["current"])


class Mix(ProcessorBase):
    """A bus: the engine summed the inputs; this applies ``gain_db`` (exact copy at 0 dB)."""

    PARAMS = (ParamSpec("gain_db", 0.0, -120.0, 24.0, "dB", "bus gain"),)

    def __init__(self, **values: float) -> None:
        self._gain = np.float32(1.0)
        super().__init__(**values)

    def _on_param(self, name: str) -> None:
        self._gain = np.float32(db_to_lin(self.values["gain_db"]))

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Copy or scale the summed input."""
        if self._gain == 1.0:
            np.copyto(out, inp)
        else:
            np.multiply(inp, self._gain, out=out)


@kernel
def _pan_law(pan: float, mono: bool) -> tuple[float, float]:  # pragma: no cover - compiled
    """The (left, right) gains of :func:`pan_gains` (``mono``) or :func:`balance_gains`.

    Compiled so the per-sample kernel and the per-event path share one law, bit for bit.
    """
    theta = (pan + 1.0) * math.pi / 4.0
    left, right = math.cos(theta), math.sin(theta)
    if mono:
        return left, right
    return min(1.0, math.sqrt(2.0) * left), min(1.0, math.sqrt(2.0) * right)


def pan_gains(pan: float) -> tuple[float, float]:
    """[any-thread] Constant-power pan law: ``θ = (pan + 1)·π/4``, returns ``(cos θ, sin θ)``.

    ``L² + R² = 1`` for every position, so a mono source keeps its power as it moves; the
    centre is -3 dB per side.
    """
    return _pan_law(float(pan), True)


def balance_gains(pan: float) -> tuple[float, float]:
    """[any-thread] Stereo balance with the same sine law, normalised so the centre is unity.

    The side panned away from is attenuated along ``√2·cos θ`` (or ``√2·sin θ``); the other
    side stays at unity, so a centred stereo signal passes unchanged and hard left silences R.
    """
    return _pan_law(float(pan), False)


@kernel
def _pan_kernel(
    inp: Buffer, out: Buffer, left32: float, right32: float
) -> None:  # pragma: no cover - compiled
    """``out[0] = inp[0]·left``, ``out[1] = inp[-1]·right`` (mono feeds both sides).

    The gains are float32 values passed as Python floats (faster for numba to type).
    """
    left, right = np.float32(left32), np.float32(right32)
    src_l, src_r = inp[0], inp[inp.shape[0] - 1]
    dst_l, dst_r = out[0], out[1]
    for n in range(src_l.shape[0]):
        dst_l[n] = src_l[n] * left
        dst_r[n] = src_r[n] * right


@kernel
def _pan_changes_kernel(
    inp: Buffer,
    out: Buffer,
    left32: float,
    right32: float,
    start: int,
    at: np.ndarray,
    values: np.ndarray,
    mono: bool,
) -> None:  # pragma: no cover - compiled
    """:func:`_pan_kernel` with ``pan`` moving to ``values[k]`` (clamped) at sample ``at[k]``.

    The same clamp, law and float32 rounding as the per-event path (``Pan._on_param``).
    """
    left, right = np.float32(left32), np.float32(right32)
    src_l, src_r = inp[0], inp[inp.shape[0] - 1]
    k, count = 0, at.shape[0]
    for n in range(src_l.shape[0]):
        while k < count and at[k] - start <= n:
            l64, r64 = _pan_law(min(max(values[k], -1.0), 1.0), mono)
            left, right = np.float32(l64), np.float32(r64)
            k += 1
        out[0, n] = src_l[n] * left
        out[1, n] = src_r[n] * right


class Pan(ProcessorBase, RendersChanges):
    """Mono → stereo constant-power panner; stereo in → constant-power balance (see module doc)."""

    PARAMS = (ParamSpec("pan", 0.0, -1.0, 1.0, "", "-1 left … +1 right"),)
    CHANGE_PARAMS = frozenset({"pan"})

    def __init__(self, **values: float) -> None:
        self._left = self._right = 1.0
        super().__init__(**values)

    def _on_param(self, name: str) -> None:
        law = pan_gains if self.channels == 1 else balance_gains
        left, right = law(self.values["pan"])
        self._left, self._right = float(np.float32(left)), float(np.float32(right))

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Write the panned stereo pair."""
        _pan_kernel(inp, out, self._left, self._right)

    def render_changes(
        self,
        inp: Buffer,
        out: Buffer,
        start: int,
        param: str,
        at: np.ndarray,
        values: np.ndarray,
    ) -> None:
        """[audio-thread & processing] Auto-pan: the position changes inside one kernel call."""
        mono = self.channels == 1
        _pan_changes_kernel(inp, out, self._left, self._right, start, at, values, mono)

    def bind_block(self, inp: Buffer, out: Buffer) -> Callable[[int], None]:
        """[main-thread & !processing] :meth:`render` on fixed views, without numba dispatch."""
        run = compiled(_pan_kernel, inp, out, self._left, self._right)
        return lambda start: run(inp, out, self._left, self._right)


def pan_channels(params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext) -> int:
    """[any-thread] Pan takes mono or stereo and always outputs stereo."""
    if input_channels is None:
        raise ChannelError("has no input connected", "connect a mono or stereo source to it")
    if input_channels > 2:
        raise ChannelError(
            f"pan takes mono or stereo input, got {input_channels} channels",
            "downmix with a 'mix' node per stereo pair, or pan each channel separately",
        )
    return 2


@kernel
def _meter_kernel(
    inp: Buffer, out: Buffer, peak: np.ndarray, rms: np.ndarray, hold: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Copy ``inp`` to ``out`` while measuring each channel's peak and RMS."""
    frames = inp.shape[1]
    for c in range(inp.shape[0]):
        p = 0.0
        acc = 0.0
        for n in range(frames):
            v = inp[c, n]
            out[c, n] = v
            a = abs(v)
            if a > p:
                p = a
            acc += float(v) * float(v)
        peak[c] = p
        rms[c] = math.sqrt(acc / frames) if frames else 0.0
        if p > hold[c]:
            hold[c] = p


class Meter(ProcessorBase):
    """Pass-through that records per-channel levels for the metrics collector.

    Attributes ``peak`` and ``rms`` hold the last block's values and ``peak_hold`` the running
    maximum, each a preallocated ``float64`` array of shape ``(channels,)`` (linear amplitude).
    """

    def __init__(self, **values: float) -> None:
        super().__init__(**values)
        self.peak = np.zeros(0, np.float64)
        self.rms = np.zeros(0, np.float64)
        self.peak_hold = np.zeros(0, np.float64)

    def _allocate(self) -> None:
        self.peak = np.zeros(self.channels, np.float64)
        self.rms = np.zeros(self.channels, np.float64)
        self.peak_hold = np.zeros(self.channels, np.float64)

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Copy the whole block and measure it (no params to split)."""
        _meter_kernel(inp, out, self.peak, self.rms, self.peak_hold)

    def reset(self) -> None:
        """[main-thread & !processing] Clear the readings."""
        self.peak.fill(0.0)
        self.rms.fill(0.0)
        self.peak_hold.fill(0.0)

    def get_state(self) -> dict[str, Any]:
        """[main-thread] The running peak hold (block readings are transient)."""
        return {**super().get_state(), "peak_hold": state_array(self.peak_hold)}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore the running peak hold."""
        super().set_state(state)
        hold = state.get("peak_hold")
        if hold is not None and len(hold) == len(self.peak_hold):
            self.peak_hold[:] = hold


def _gain_factory(params: Mapping[str, Any], ctx: CheckContext) -> Gain:
    return Gain(invert=bool(params.get("invert", False)), **numeric_values(params, Gain.PARAMS))


GAIN = BuiltinNodeType(
    name="gain",
    role="processor",
    summary="click-free gain with optional polarity invert",
    factory=_gain_factory,
    specs=Gain.PARAMS,
    extra_properties={"invert": {"type": "boolean", "default": False}},
    traits=NodeTraits(linear=True, warm=lambda: warm_processor(Gain(), 2, 2)),
)
MIX = BuiltinNodeType(
    name="mix",
    role="processor",
    summary="bus: sums its inputs and applies a gain",
    factory=lambda params, ctx: Mix(**numeric_values(params, Mix.PARAMS)),
    specs=Mix.PARAMS,
    traits=NodeTraits(
        linear=True, metered=True, warm=lambda: warm_processor(Mix(gain_db=-6.0), 2, 2)
    ),
)
PAN = BuiltinNodeType(
    name="pan",
    role="processor",
    summary="constant-power panner (mono) / balance (stereo), stereo out",
    factory=lambda params, ctx: Pan(**numeric_values(params, Pan.PARAMS)),
    specs=Pan.PARAMS,
    extra_properties={"law": {"enum": ["constant_power"], "default": "constant_power"}},
    channels=pan_channels,
    traits=NodeTraits(linear=True, warm=lambda: warm_processor(Pan(), 1, 2)),
)
METER = BuiltinNodeType(
    name="meter",
    role="processor",
    summary="pass-through peak/RMS meter",
    factory=lambda params, ctx: Meter(),
    traits=NodeTraits(linear=True, metered=True, warm=lambda: warm_processor(Meter(), 2, 2)),
)
