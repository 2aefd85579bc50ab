"""Compressor and lookahead limiter, stereo-linked, block-size invariant.

Compressor (feed-forward; the detector matches JUCE's ``dsp::Compressor``, which is what
``pedalboard.Compressor`` runs, so with ``knee_db = 0`` and ``makeup_db = 0`` a mono signal
gets the same gain)::

    d[n]  = max_c |x[c, n]|            (peak)   or  max_c x[c, n]²   (rms)
    k     = a if d[n] > e[n-1] else r,  a = exp(-2π·1000 / (fs·attack_ms)), r likewise
    e[n]  = d[n] + k · (e[n-1] - d[n])
    L     = 20·log10(e[n])  (peak)      or  10·log10(e[n])   (rms)
    G(L)  = L                                  if 2(L - T) < -W
          = L + (1/R - 1)(L - T + W/2)² / 2W   if |2(L - T)| ≤ W      (soft knee, width W)
          = T + (L - T) / R                    otherwise
    y     = x · 10^((G(L) - L + makeup) / 20)

Limiter (lookahead ``D`` samples, window ``N = D + 1``): the needed gain
``g[n] = min(1, T / max_c |x[c, n]|)`` is min-held over the last ``N`` samples, released with
a one-pole that may only move up slower (never above the held value), then averaged over
``N`` samples and applied to the input delayed by ``D``. Each averaged term is ≤ the gain the
delayed sample needs, so the output never exceeds ``T``; a final clamp removes rounding.
When nothing needs reduction the gain is exactly 1.0, so the output is the input delayed by
``D`` samples, bit for bit.

Example:
    >>> lim = Limiter(lookahead_ms=0.0); lim.prepare(48000, 64, 2); lim.latency_samples
    0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._features import TakesSidechain
from .._jit import kernel_from
from .._nodetype import BuiltinNodeType, CheckContext, NodeTraits
from .._processor import BlockKernel, Buffer, ParamEvent, ParamSpec, ProcessorBase
from ._common import (
    db_to_lin,
    kernel,
    load_arrays,
    numeric_values,
    save_arrays,
    time_constant,
)
from ._warm import warm_processor

# Its module defines numba intrinsics at import, so it loads when a kernel here compiles.
exp = kernel_from("aers_host.dsp._vecmath", "exp")
ln = kernel_from("aers_host.dsp._vecmath", "ln")


def limiter_latency_samples(params: Mapping[str, Any], sample_rate: int) -> int:
    """[any-thread] The limiter's latency for ``params``, known before any processor exists."""
    return round(float(params.get("lookahead_ms", 5.0)) * sample_rate / 1000.0)


def ballistics_coeff(ms: float, sample_rate: int) -> float:
    """[any-thread] JUCE BallisticsFilter coefficient ``exp(-2π·1000 / (fs·ms))``, 0 below 1 µs."""
    return 0.0 if ms < 1e-3 else math.exp(-2.0 * math.pi * 1000.0 / (sample_rate * ms))


#: Slots of the compressor's derived coefficients (one float64 array: one kernel argument).
_RMS, _ATTACK, _RELEASE, _THR, _SLOPE, _MAKEUP, _FLOOR, _TO_DB, _HALF_KNEE, _KNEE_SCALE = range(10)
_TO_LIN = math.log(10.0) / 20.0  # lin = exp(_TO_LIN·dB)


@kernel
def _compressor_kernel(
    inp: Buffer,
    key: Buffer,
    out: Buffer,
    env: np.ndarray,
    gains: np.ndarray,
    coef: np.ndarray,
    min_gain: np.ndarray,
    start: int,
) -> None:  # pragma: no cover - compiled
    """Apply the gain computer of the module docstring; ``env[0]`` carries the envelope.

    The detector listens to ``key``: the input itself, or the side-chain when one is
    connected (any channel count; the detector takes the loudest channel).

    Three passes over the span, because only the first is a recursion: (1) the stereo-linked
    detector and ballistics write the envelope into ``gains`` (scratch, >= frames long); (2)
    the gain computer turns each envelope into a linear gain with :mod:`._vecmath`'s ``ln``
    and ``exp``, branch-free so the loop vectorises; (3) one multiply per sample and channel.
    ``coef`` holds the parameters, derived once per change (see ``Compressor._on_param``);
    ``min_gain[0]`` is lowered to the smallest gain applied (makeup aside): the gain of the
    largest envelope, the curve being monotonic; ``start`` is unused, taken so a bound
    block call is a plain partial.
    """
    channels, frames = inp.shape
    rms, attack, release = coef[_RMS] > 0.0, coef[_ATTACK], coef[_RELEASE]
    e = env[0]
    e_max = 0.0
    for n in range(frames):
        d = 0.0
        for c in range(key.shape[0]):
            v = float(key[c, n])
            v = v * v if rms else abs(v)
            if v > d:
                d = v
        k = attack if d > e else release
        e = d + k * (e - d)
        gains[n] = e
        e_max = max(e_max, e)
    env[0] = e
    thr, slope, makeup, floor_env = coef[_THR], coef[_SLOPE], coef[_MAKEUP], coef[_FLOOR]
    to_db, half_knee, knee_scale = coef[_TO_DB], coef[_HALF_KNEE], coef[_KNEE_SCALE]
    for n in range(frames):
        e = gains[n]
        over = to_db * ln(e) - thr
        t = over + half_knee
        gain_db = knee_scale * t * t if abs(over) <= half_knee else slope * over
        flat = e <= floor_env or e <= 0.0
        gains[n] = makeup if flat else makeup * exp(_TO_LIN * gain_db)
    if e_max > floor_env:
        over = to_db * ln(e_max) - thr
        t = over + half_knee
        gain_db = knee_scale * t * t if abs(over) <= half_knee else slope * over
        min_gain[0] = min(min_gain[0], exp(_TO_LIN * gain_db))
    for c in range(channels):
        src, dst = inp[c], out[c]
        for n in range(frames):
            dst[n] = src[n] * gains[n]


@kernel
def _compressor_block(
    inp: Buffer,
    out: Buffer,
    env: np.ndarray,
    gains: np.ndarray,
    coef: np.ndarray,
    min_gain: np.ndarray,
    start: int,
) -> None:  # pragma: no cover - compiled
    """:func:`_compressor_kernel` keyed by its own input (the block call of a compressor)."""
    _compressor_kernel(inp, inp, out, env, gains, coef, min_gain, start)


class Compressor(ProcessorBase, TakesSidechain):
    """Feed-forward, stereo-linked compressor with soft knee (formula in the module doc)."""

    PARAMS = (
        ParamSpec("threshold_db", -18.0, -80.0, 0.0, "dB", "level where compression starts"),
        ParamSpec("ratio", 4.0, 1.0, 100.0, ":1", "input dB per output dB above threshold"),
        ParamSpec("attack_ms", 5.0, 0.0, 1000.0, "ms", "envelope attack time"),
        ParamSpec("release_ms", 100.0, 0.0, 5000.0, "ms", "envelope release time"),
        ParamSpec("knee_db", 0.0, 0.0, 24.0, "dB", "soft-knee width"),
        ParamSpec("makeup_db", 0.0, -24.0, 48.0, "dB", "gain after compression"),
    )

    def __init__(self, *, detector: str = "peak", **values: float) -> None:
        if detector not in ("peak", "rms"):
            raise ValueError(f"detector must be 'peak' or 'rms', got {detector!r}")
        super().__init__(**values)
        self.detector = detector
        self._env = np.zeros(1, np.float64)
        self._gains = np.zeros(0, np.float64)
        self._coef = np.zeros(_KNEE_SCALE + 1, np.float64)
        #: [audio-thread] Smallest gain applied (linear, makeup aside) since a meter last
        #: set it back to 1.0: the node's gain reduction, read between blocks.
        self.min_gain = np.ones(1, np.float64)
        self._side: Buffer | None = None
        self._block_start = 0

    def set_sidechain(self, buf: Buffer) -> None:
        """[main-thread & !active] Key the detector from ``buf`` (the engine fills it)."""
        self._side = buf

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Remember the block start so split spans find their key."""
        self._block_start = start
        super().process(inp, out, start, events)

    def _on_param(self, name: str) -> None:
        """Derive the kernel's coefficients (no pow or dict lookup per block)."""
        v, coef = self.values, self._coef
        rms = self.detector == "rms"
        knee, slope = v["knee_db"], 1.0 / v["ratio"] - 1.0
        coef[_RMS] = 1.0 if rms else 0.0
        coef[_ATTACK] = ballistics_coeff(v["attack_ms"], self.sample_rate)
        coef[_RELEASE] = ballistics_coeff(v["release_ms"], self.sample_rate)
        coef[_THR] = v["threshold_db"]
        coef[_SLOPE] = slope
        coef[_MAKEUP] = db_to_lin(v["makeup_db"])
        # below this envelope the curve is flat (the knee's lower edge): no log needed
        coef[_FLOOR] = 10.0 ** ((v["threshold_db"] - knee / 2.0) / (10.0 if rms else 20.0))
        coef[_TO_DB] = (10.0 if rms else 20.0) / math.log(10.0)  # dB = to_db·ln(e)
        # a zero-width knee is never entered (|over| <= 0 gives slope·0 either way)
        coef[_HALF_KNEE] = knee / 2.0
        coef[_KNEE_SCALE] = slope / (2.0 * knee) if knee > 0.0 else 0.0

    def _allocate(self) -> None:
        self._gains = np.zeros(self.max_block, np.float64)
        self.reset()

    def reset(self) -> None:
        """[main-thread & !processing] Zero the envelope."""
        self._env[0] = 0.0

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Compress the span."""
        key = inp
        if self._side is not None:
            offset = start - self._block_start
            key = self._side[:, offset : offset + inp.shape[1]]
        _compressor_kernel(inp, key, out, self._env, self._gains, self._coef, self.min_gain, start)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
        """[main-thread & !processing] :meth:`render` on fixed views, keyed by the input.

        Only used without a side-chain (the engine runs side-chained nodes on its general
        path, which calls :meth:`process`).
        """
        state = (self._env, self._gains, self._coef, self.min_gain)
        return BlockKernel(_compressor_block, (inp, out, *state))

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params, detector and envelope."""
        return {**super().get_state(), "detector": self.detector, "env": float(self._env[0])}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and envelope."""
        super().set_state(state)
        self._env[0] = float(state.get("env", self._env[0]))


@kernel
def _limiter_kernel(
    inp: Buffer, out: Buffer, xline: np.ndarray, dq_v: np.ndarray, dq_i: np.ndarray,
    box: np.ndarray, ist: np.ndarray, fst: np.ndarray, knobs: np.ndarray,
    min_gain: np.ndarray, start: int,
) -> None:  # pragma: no cover - compiled
    """Lookahead limiter of the module docstring.

    ``ist`` = [t, xpos, dq_head, dq_count, box_pos, below]; ``fst`` = [held, box_sum];
    ``knobs`` = [threshold (linear, float32-rounded), release coefficient], derived once
    per change; ``min_gain[0]`` is lowered to the smallest gain applied; ``start`` is
    unused (the block-call convention).
    ``dq_*`` is a ring-buffer monotonic deque (sliding minimum over ``N`` samples).
    """
    thr, release = knobs[0], knobs[1]
    width = box.shape[0]
    lag = xline.shape[1] if width > 1 else 0
    t, xpos, head, count, bpos, below = ist[0], ist[1], ist[2], ist[3], ist[4], ist[5]
    held, bsum = fst[0], fst[1]
    lowest = min_gain[0]
    for n in range(inp.shape[1]):
        peak = 0.0
        for c in range(inp.shape[0]):
            a = abs(float(inp[c, n]))
            if a > peak:
                peak = a
        need = 1.0 if peak <= thr else thr / peak
        while count > 0 and dq_i[head] <= t - width:
            head = (head + 1) % width
            count -= 1
        while count > 0 and dq_v[(head + count - 1) % width] >= need:
            count -= 1
        slot = (head + count) % width
        dq_v[slot] = need
        dq_i[slot] = t
        count += 1
        hmin = dq_v[head]
        if hmin <= held:
            held = hmin
        else:
            held = hmin + release * (held - hmin)
            if hmin - held < 1e-12:
                held = hmin
        old = box[bpos]
        if old < 1.0:
            below -= 1
        if held < 1.0:
            below += 1
        box[bpos] = held
        bsum += held - old
        bpos = (bpos + 1) % width
        if below == 0:
            bsum = float(width)
            g = 1.0
        else:
            g = bsum / width
            lowest = min(lowest, g)
        for c in range(inp.shape[0]):
            x = inp[c, n]
            if lag:
                xd = xline[c, xpos]
                xline[c, xpos] = x
            else:
                xd = x
            y = float(xd) * g  # exact when g == 1.0: the transparent path is a pure delay
            out[c, n] = min(max(y, -thr), thr)
        if lag:
            xpos = (xpos + 1) % lag
        t += 1
    ist[0], ist[1], ist[2], ist[3], ist[4], ist[5] = t, xpos, head, count, bpos, below
    fst[0], fst[1] = held, bsum
    min_gain[0] = lowest


class Limiter(ProcessorBase):
    """Lookahead peak limiter; ``latency_samples = round(lookahead_ms · fs / 1000)``."""

    PARAMS = (
        ParamSpec("threshold_db", -1.0, -60.0, 0.0, "dB", "ceiling of the output"),
        ParamSpec("release_ms", 50.0, 0.0, 5000.0, "ms", "gain recovery time"),
    )

    def __init__(self, *, lookahead_ms: float = 5.0, **values: float) -> None:
        super().__init__(**values)
        if not 0.0 <= lookahead_ms <= 50.0:
            raise ValueError(f"lookahead_ms={lookahead_ms} is outside 0..50")
        self.lookahead_ms = float(lookahead_ms)
        #: [audio-thread] Smallest gain applied since a meter last set it back to 1.0.
        self.min_gain = np.ones(1, np.float64)
        self._knobs = np.zeros(2, np.float64)
        self._alloc_state(0, 0)

    def _on_param(self, name: str) -> None:
        """Derive the kernel's threshold and release coefficient (once per change)."""
        self._knobs[0] = float(np.float32(db_to_lin(self.values["threshold_db"])))
        self._knobs[1] = time_constant(self.values["release_ms"], self.sample_rate)

    def _alloc_state(self, channels: int, lag: int) -> None:
        width = lag + 1
        self._xline = np.zeros((channels, max(lag, 1)), np.float32)
        self._dq_v = np.zeros(width, np.float64)
        self._dq_i = np.zeros(width, np.int64)
        self._box = np.ones(width, np.float64)
        self._ist = np.zeros(6, np.int64)
        self._fst = np.zeros(2, np.float64)

    def _allocate(self) -> None:
        self.latency_samples = limiter_latency_samples(
            {"lookahead_ms": self.lookahead_ms}, self.sample_rate
        )
        self._alloc_state(self.channels, self.latency_samples)
        self.reset()

    def reset(self) -> None:
        """[main-thread & !processing] Empty the lookahead line and release all reduction."""
        self._xline.fill(0.0)
        self._box.fill(1.0)
        self._ist.fill(0)
        self._fst[0], self._fst[1] = 1.0, float(self._box.shape[0])

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Limit the span (output delayed by ``latency_samples``)."""
        run: Callable[..., None] = _limiter_kernel  # the arguments come as one tuple
        run(*self._kernel_args(inp, out), start)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
        """[main-thread & !processing] :meth:`render` on fixed views."""
        return BlockKernel(_limiter_kernel, self._kernel_args(inp, out))

    def _kernel_args(self, inp: Buffer, out: Buffer) -> tuple[Any, ...]:
        return (
            inp, out, self._xline, self._dq_v, self._dq_i, self._box, self._ist, self._fst,
            self._knobs, self.min_gain,
        )  # fmt: skip

    _STATE = ("_xline", "_dq_v", "_dq_i", "_box", "_ist", "_fst")

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params and every internal array (lookahead line, deque, averager)."""
        arrays = save_arrays(self, self._STATE)
        return {**super().get_state(), "lookahead_ms": self.lookahead_ms, **arrays}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and, when prepared, the internals.

        Raises:
            SessionError: the saved arrays do not fit the prepared layout.
        """
        super().set_state(state)
        if self.sample_rate:
            load_arrays(self, self._STATE, state, "limiter state")


def _compressor_factory(params: Mapping[str, Any], ctx: CheckContext) -> Compressor:
    values = numeric_values(params, Compressor.PARAMS)
    return Compressor(detector=str(params.get("detector", "peak")), **values)


def _limiter_factory(params: Mapping[str, Any], ctx: CheckContext) -> Limiter:
    values = numeric_values(params, Limiter.PARAMS)
    return Limiter(lookahead_ms=float(params.get("lookahead_ms", 5.0)), **values)


def _warm_compressor() -> None:
    """Both detectors and the soft knee, stereo-linked and mono."""
    warm_processor(Compressor(), 2, 2)
    warm_processor(Compressor(detector="rms", knee_db=6.0), 1, 1)


COMPRESSOR = BuiltinNodeType(
    name="compressor",
    role="processor",
    summary="feed-forward stereo-linked compressor (JUCE/pedalboard-compatible detector)",
    factory=_compressor_factory,
    specs=Compressor.PARAMS,
    extra_properties={"detector": {"enum": ["peak", "rms"], "default": "peak"}},
    traits=NodeTraits(
        nonlinear_reason="level-dependent gain", sidechain=True, warm=_warm_compressor
    ),
)
LIMITER = BuiltinNodeType(
    name="limiter",
    role="processor",
    summary="lookahead peak limiter (adds lookahead_ms of latency)",
    factory=_limiter_factory,
    specs=Limiter.PARAMS,
    extra_properties={
        "lookahead_ms": {"type": "number", "minimum": 0, "maximum": 50, "default": 5,
                         "description": "lookahead (= latency) [ms]"},
    },
    traits=NodeTraits(
        nonlinear_reason="level-dependent gain",
        warm=lambda: warm_processor(Limiter(lookahead_ms=1.0), 2, 2),
    ),
)
