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

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._nodetype import BuiltinNodeType, ChannelError, CheckContext
from .._processor import Buffer, ParamSpec, ProcessorBase
from ._common import kernel, load_arrays, numeric_values, save_arrays

COMB_TUNINGS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNINGS = (556, 441, 341, 225)
STEREO_SPREAD = 23
_F = np.float32
#: Order of the smoothed values in the state arrays.
_DAMP, _FEEDBACK, _DRY, _WET1, _WET2 = range(5)


@kernel
def _reverb_kernel(
    inp: Buffer, out: Buffer, comb: np.ndarray, comb_len: np.ndarray, comb_idx: np.ndarray,
    comb_last: np.ndarray, ap: np.ndarray, ap_len: np.ndarray, ap_idx: np.ndarray,
    cur: np.ndarray, tgt: np.ndarray, step: np.ndarray, cnt: np.ndarray, gain: np.float32,
) -> None:  # pragma: no cover - compiled
    """Freeverb over 1 or 2 channels; every state array is updated in place."""
    sides = inp.shape[0]
    tiny = np.float32(0.1)
    one = np.float32(1.0)
    half = np.float32(0.5)
    for n in range(inp.shape[1]):
        x = (inp[0, n] + inp[1, n]) * gain if sides == 2 else inp[0, n] * gain
        for k in range(5):  # linear glides; mono does not advance wet2, as JUCE
            if cnt[k] > 0 and (sides == 2 or k != _WET2):
                cnt[k] -= 1
                cur[k] = cur[k] + step[k] if cnt[k] > 0 else tgt[k]
        damp = cur[_DAMP]
        fb = cur[_FEEDBACK]
        for s in range(sides):
            acc = np.float32(0.0)
            for j in range(comb.shape[1]):
                i = comb_idx[s, j]
                y = comb[s, j, i]
                last = y * (one - damp) + comb_last[s, j] * damp
                last += tiny
                last -= tiny
                comb_last[s, j] = last
                temp = x + last * fb
                temp += tiny
                temp -= tiny
                comb[s, j, i] = temp
                i += 1
                comb_idx[s, j] = 0 if i >= comb_len[s, j] else i
                acc += y
            for j in range(ap.shape[1]):
                i = ap_idx[s, j]
                buffered = ap[s, j, i]
                temp = acc + buffered * half
                temp += tiny
                temp -= tiny
                ap[s, j, i] = temp
                i += 1
                ap_idx[s, j] = 0 if i >= ap_len[s, j] else i
                acc = buffered - acc
            out[s, n] = acc
        dry, wet1, wet2 = cur[_DRY], cur[_WET1], cur[_WET2]
        if sides == 2:
            left, right = out[0, n], out[1, n]
            out[0, n] = left * wet1 + right * wet2 + inp[0, n] * dry
            out[1, n] = right * wet1 + left * wet2 + inp[1, n] * dry
        else:
            out[0, n] = out[0, n] * wet1 + inp[0, n] * dry


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
        self._gain = _F(0.015)
        self._ramp = 0
        self._cur = np.zeros(5, np.float32)
        self._tgt = np.zeros(5, np.float32)
        self._step = np.zeros(5, np.float32)
        self._cnt = np.zeros(5, np.int64)

    def _allocate(self) -> None:
        sr = self.sample_rate
        if self.channels not in (1, 2):
            raise ValueError(f"reverb takes 1 or 2 channels, got {self.channels}")
        self._comb_len = np.array(
            [[sr * (t + s * STEREO_SPREAD) // 44100 for t in COMB_TUNINGS] for s in (0, 1)],
            np.int64,
        )
        self._ap_len = np.array(
            [[sr * (t + s * STEREO_SPREAD) // 44100 for t in ALLPASS_TUNINGS] for s in (0, 1)],
            np.int64,
        )
        self._comb = np.zeros((2, len(COMB_TUNINGS), int(self._comb_len.max())), np.float32)
        self._ap = np.zeros((2, len(ALLPASS_TUNINGS), int(self._ap_len.max())), np.float32)
        self._comb_idx = np.zeros((2, len(COMB_TUNINGS)), np.int64)
        self._comb_last = np.zeros((2, len(COMB_TUNINGS)), np.float32)
        self._ap_idx = np.zeros((2, len(ALLPASS_TUNINGS)), np.int64)
        self._ramp = int(np.floor(0.01 * sr))
        self._update_targets(jump=True)

    def _targets(self) -> tuple[np.float32, ...]:
        v = {name: _F(value) for name, value in self.values.items()}
        frozen = v["freeze_mode"] >= _F(0.5)
        self._gain = _F(0.0) if frozen else _F(0.015)
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
        _reverb_kernel(
            inp, out, self._comb, self._comb_len, self._comb_idx, self._comb_last, self._ap,
            self._ap_len, self._ap_idx, self._cur, self._tgt, self._step, self._cnt, self._gain,
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


REVERB = BuiltinNodeType(
    name="reverb",
    role="processor",
    summary="Freeverb room reverb (pedalboard.Reverb parameters)",
    factory=lambda params, ctx: Reverb(**numeric_values(params, Reverb.PARAMS)),
    specs=Reverb.PARAMS,
    channels=reverb_channels,
)
