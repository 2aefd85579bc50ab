"""Freeverb (Jezar at Dreampoint), laid out as JUCE's ``juce::Reverb`` (= pedalboard.Reverb).

Per channel: 8 parallel low-pass-feedback combs then 4 series allpasses; the right channel's
delays are 23 samples longer (stereo spread). Tunings are Jezar's 44.1 kHz lengths scaled by
``int(fs) · len // 44100``. Everything runs in float32, in JUCE's order of operations,
including its ``JUCE_UNDENORMALISE`` (``x += 0.1f; x -= 0.1f``), so the output follows
pedalboard's to float32 rounding. Parameter changes glide linearly over 10 ms, as JUCE's
``SmoothedValue`` does; a freshly prepared reverb starts at its targets.

Mapping of parameters (JUCE): ``input gain 0.015``, ``wet = 3·wet_level``, ``dry =
2·dry_level``, ``wet1 = wet·(1 + width)/2``, ``wet2 = wet·(1 - width)/2``, comb damping
``0.4·damping``, comb feedback ``0.28·room_size + 0.7``; ``freeze_mode ≥ 0.5`` holds the tail
(feedback 1, damping 0, no input).

Example:
    >>> r = Reverb(); r.prepare(44100, 64, 2); r.latency_samples
    0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._nodetype import BuiltinNodeType, ChannelError, CheckContext, NodeTraits
from .._processor import Buffer, ParamSpec, ProcessorBase, compiled
from ._common import kernel, load_arrays, numeric_values, save_arrays
from ._warm import warm_processor

COMB_TUNINGS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNINGS = (556, 441, 341, 225)
STEREO_SPREAD = 23
_F = np.float32
#: Order of the smoothed values in the state arrays.
_DAMP, _FEEDBACK, _DRY, _WET1, _WET2 = range(5)


@kernel
def _gliding(cnt: np.ndarray, sides: int) -> bool:  # pragma: no cover - compiled
    """True while a smoothed value still moves (mono never advances wet2, as JUCE)."""
    for k in range(5):  # noqa: SIM110 - a plain loop compiles; any(generator) does not
        if cnt[k] > 0 and (sides == 2 or k != _WET2):
            return True
    return False


@kernel
def _glide(glide: np.ndarray, cnt: np.ndarray, sides: int) -> None:  # pragma: no cover
    """Advance every moving value one sample along its linear glide (JUCE ``SmoothedValue``).

    ``glide`` rows are (current, target, step).
    """
    for k in range(5):
        if cnt[k] > 0 and (sides == 2 or k != _WET2):
            cnt[k] -= 1
            glide[0, k] = glide[0, k] + glide[2, k] if cnt[k] > 0 else glide[1, k]


@kernel
def _frames_to_wrap(ring: np.ndarray, sides: int, limit: int) -> int:  # pragma: no cover
    """Frames (at most ``limit``) before the first of a bank's lines wraps.

    ``ring[0]`` holds the lengths and ``ring[1]`` the read/write indices, (sides, lines).
    """
    for s in range(sides):
        for j in range(ring.shape[2]):
            limit = min(limit, ring[0, s, j] - ring[1, s, j])
    return limit


@kernel
def _advance(ring: np.ndarray, sides: int, frames: int) -> None:  # pragma: no cover
    """Move every line's index on by ``frames`` (which never passes a wrap)."""
    for s in range(sides):
        for j in range(ring.shape[2]):
            i = ring[1, s, j] + frames
            ring[1, s, j] = 0 if i >= ring[0, s, j] else i


@kernel
def _freeverb(
    inp: Buffer, out: Buffer, lo: int, hi: int, comb: np.ndarray, comb_ring: np.ndarray,
    comb_last: np.ndarray, ap: np.ndarray, ap_ring: np.ndarray, cur: np.ndarray,
    gain: np.float32,
) -> None:  # pragma: no cover - compiled
    """Frames ``lo:hi`` with the smoothed values fixed at ``cur`` (JUCE's per-sample order).

    The frames run in pieces during which no delay line wraps, so a line's position is its
    index plus the frame's offset: no per-sample index update, compare or store. Indices
    are unsigned there, which spares numba's negative-index wraparound code.
    """
    sides = inp.shape[0]
    tiny = np.float32(0.1)
    one = np.float32(1.0)
    half = np.float32(0.5)
    damp, fb = cur[_DAMP], cur[_FEEDBACK]
    dry, wet1, wet2 = cur[_DRY], cur[_WET1], cur[_WET2]
    comb_idx, ap_idx = comb_ring[1], ap_ring[1]
    n0 = lo
    while n0 < hi:
        span = _frames_to_wrap(ap_ring, sides, _frames_to_wrap(comb_ring, sides, hi - n0))
        for t in range(span):
            n = n0 + t
            ut = np.uint64(t)
            x = (inp[0, n] + inp[1, n]) * gain if sides == 2 else inp[0, n] * gain
            for s in range(sides):
                acc = np.float32(0.0)
                for j in range(comb.shape[1]):
                    i = np.uint64(comb_idx[s, j]) + ut
                    y = comb[s, j, i]
                    last = y * (one - damp) + comb_last[s, j] * damp
                    last += tiny
                    last -= tiny
                    comb_last[s, j] = last
                    temp = x + last * fb
                    temp += tiny
                    temp -= tiny
                    comb[s, j, i] = temp
                    acc += y
                for j in range(ap.shape[1]):
                    i = np.uint64(ap_idx[s, j]) + ut
                    buffered = ap[s, j, i]
                    temp = acc + buffered * half
                    temp += tiny
                    temp -= tiny
                    ap[s, j, i] = temp
                    acc = buffered - acc
                out[s, n] = acc
            if sides == 2:
                left, right = out[0, n], out[1, n]
                out[0, n] = left * wet1 + right * wet2 + inp[0, n] * dry
                out[1, n] = right * wet1 + left * wet2 + inp[1, n] * dry
            else:
                out[0, n] = out[0, n] * wet1 + inp[0, n] * dry
        _advance(comb_ring, sides, span)
        _advance(ap_ring, sides, span)
        n0 += span


@kernel
def _reverb_kernel(
    inp: Buffer, out: Buffer, comb: np.ndarray, comb_ring: np.ndarray, comb_last: np.ndarray,
    ap: np.ndarray, ap_ring: np.ndarray, glide: np.ndarray, cnt: np.ndarray, input_gain: float,
) -> None:  # pragma: no cover - compiled
    """Freeverb over 1 or 2 channels; every state array is updated in place.

    ``input_gain`` is a float32 value passed as a Python float (numba types a NumPy scalar
    argument ~50 ns slower).

    While a parameter glides, samples run one at a time after a glide step; once every
    value has settled (nearly always) the rest of the span runs with constant parameters,
    so the sample loop carries no smoothing bookkeeping.
    """
    sides, frames = inp.shape
    gain = np.float32(input_gain)
    n = 0
    while n < frames and _gliding(cnt, sides):
        _glide(glide, cnt, sides)
        _freeverb(inp, out, n, n + 1, comb, comb_ring, comb_last, ap, ap_ring, glide[0], gain)
        n += 1
    _freeverb(inp, out, n, frames, comb, comb_ring, comb_last, ap, ap_ring, glide[0], gain)


class Reverb(ProcessorBase):
    """Freeverb with pedalboard.Reverb's parameters; mono or stereo, same channels out."""

    PARAMS = (
        ParamSpec("room_size", 0.5, 0.0, 1.0, "", "comb feedback (decay length)"),
        ParamSpec("damping", 0.5, 0.0, 1.0, "", "high-frequency damping in the tail"),
        ParamSpec("wet_level", 0.33, 0.0, 1.0, "", "level of the reverberated signal"),
        ParamSpec("dry_level", 0.4, 0.0, 1.0, "", "level of the direct signal"),
        ParamSpec("width", 1.0, 0.0, 1.0, "", "stereo width of the tail"),
        ParamSpec("freeze_mode", 0.0, 0.0, 1.0, "", "≥ 0.5 holds the tail indefinitely"),
    )
    _STATE = (
        "_comb", "_comb_len", "_comb_idx", "_comb_last", "_ap", "_ap_len", "_ap_idx",
        "_cur", "_tgt", "_step", "_cnt",
    )

    def __init__(self, **values: float) -> None:
        super().__init__(**values)
        self._gain = 0.015  # a float32 value, kept as a Python float for the kernel
        self._ramp = 0
        # the state lives in few arrays (each kernel argument costs ~40 ns a call); the
        # names in _STATE are views into them, so sessions keep their keys and shapes
        self._glide = np.zeros((3, 5), np.float32)
        self._cur, self._tgt, self._step = self._glide
        self._cnt = np.zeros(5, np.int64)

    def _allocate(self) -> None:
        sr = self.sample_rate
        if self.channels not in (1, 2):
            raise ValueError(f"reverb takes 1 or 2 channels, got {self.channels}")
        # ring[0] = line lengths, ring[1] = read/write indices, each (side, line)
        self._comb_ring = np.zeros((2, 2, len(COMB_TUNINGS)), np.int64)
        self._ap_ring = np.zeros((2, 2, len(ALLPASS_TUNINGS)), np.int64)
        self._comb_len, self._comb_idx = self._comb_ring
        self._ap_len, self._ap_idx = self._ap_ring
        for s in (0, 1):
            self._comb_len[s] = [sr * (t + s * STEREO_SPREAD) // 44100 for t in COMB_TUNINGS]
            self._ap_len[s] = [sr * (t + s * STEREO_SPREAD) // 44100 for t in ALLPASS_TUNINGS]
        self._comb = np.zeros((2, len(COMB_TUNINGS), int(self._comb_len.max())), np.float32)
        self._ap = np.zeros((2, len(ALLPASS_TUNINGS), int(self._ap_len.max())), np.float32)
        self._comb_last = np.zeros((2, len(COMB_TUNINGS)), np.float32)
        self._ramp = int(np.floor(0.01 * sr))
        self._update_targets(jump=True)

    def _targets(self) -> tuple[np.float32, ...]:
        v = {name: _F(value) for name, value in self.values.items()}
        frozen = v["freeze_mode"] >= _F(0.5)
        self._gain = 0.0 if frozen else float(_F(0.015))
        wet = v["wet_level"] * _F(3.0)
        damp = _F(0.0) if frozen else v["damping"] * _F(0.4)
        feedback = _F(1.0) if frozen else v["room_size"] * _F(0.28) + _F(0.7)
        return (
            damp,
            feedback,
            v["dry_level"] * _F(2.0),
            _F(0.5) * wet * (_F(1.0) + v["width"]),
            _F(0.5) * wet * (_F(1.0) - v["width"]),
        )

    def _update_targets(self, *, jump: bool) -> None:
        for k, target in enumerate(self._targets()):
            if jump or self._ramp <= 0:
                self._cur[k] = self._tgt[k] = target
                self._cnt[k] = 0
            elif target != self._tgt[k]:
                self._tgt[k] = target
                self._cnt[k] = self._ramp
                self._step[k] = (target - self._cur[k]) / _F(self._ramp)

    def _on_param(self, name: str) -> None:
        self._update_targets(jump=False)

    def reset(self) -> None:
        """[main-thread & !processing] Silence the tail and jump parameters to their targets."""
        for name in ("_comb", "_comb_idx", "_comb_last", "_ap", "_ap_idx"):
            getattr(self, name).fill(0)
        self._update_targets(jump=True)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Reverberate the span."""
        _reverb_kernel(inp, out, *self._args())

    def _args(self) -> tuple[Any, ...]:
        return (
            self._comb, self._comb_ring, self._comb_last, self._ap, self._ap_ring, self._glide,
            self._cnt, self._gain,
        )

    def bind_block(self, inp: Buffer, out: Buffer) -> Callable[[int], None]:
        """[main-thread & !processing] :meth:`render` on fixed views, without numba dispatch."""
        run = compiled(_reverb_kernel, inp, out, *self._args())
        return lambda start: run(
            inp, out, self._comb, self._comb_ring, self._comb_last, self._ap, self._ap_ring,
            self._glide, self._cnt, self._gain,
        )

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params and the whole tail (float32 values, exact through JSON)."""
        arrays = save_arrays(self, self._STATE)
        return {**super().get_state(), **arrays}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and, when prepared, the tail.

        Raises:
            SessionError: the saved arrays do not fit (other sample rate).
        """
        super().set_state(state)
        if self.sample_rate:
            load_arrays(self, self._STATE, state, "reverb state")


def reverb_channels(
    params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext
) -> int:
    """[any-thread] Reverb keeps mono as mono and stereo as stereo."""
    if input_channels is None:
        raise ChannelError("has no input connected", "connect a mono or stereo source to it")
    if input_channels > 2:
        raise ChannelError(
            f"reverb takes mono or stereo input, got {input_channels} channels",
            "downmix to stereo with a 'mix' node before the reverb",
        )
    return input_channels


def _warm() -> None:
    """Stereo and mono: the tank is compiled for both widths."""
    warm_processor(Reverb(), 2, 2)
    warm_processor(Reverb(), 1, 1)


REVERB = BuiltinNodeType(
    name="reverb",
    role="processor",
    summary="Freeverb room reverb (pedalboard.Reverb parameters)",
    factory=lambda params, ctx: Reverb(**numeric_values(params, Reverb.PARAMS)),
    specs=Reverb.PARAMS,
    channels=reverb_channels,
    traits=NodeTraits(linear=True, warm=_warm),
)
