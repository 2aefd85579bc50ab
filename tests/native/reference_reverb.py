"""Python reference for plugins/native_reverb: Jezar's Freeverb, per sample, in float64.

A straightforward transcription of the published Freeverb algorithm (comb: damped feedback;
allpass: feedback 0.5; right tank 23 samples longer; tunings scaled from 44.1 kHz), kept
deliberately naive so it is easy to check by eye. Slow: use a few thousand frames.
"""

from __future__ import annotations

import math

import numpy as np

COMBS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASSES = (556, 441, 341, 225)
SPREAD = 23
DEFAULTS = {"room_size": 0.5, "damping": 0.5, "wet": 0.25, "dry": 0.5, "width": 1.0}


def _size(tuning: int, sr: float) -> int:
    return math.floor(tuning * sr / 44100.0 + 0.5)


class Freeverb:
    def __init__(self, sr: float, channels: int, **values: float) -> None:
        self.channels = channels
        self.values = DEFAULTS | values
        self.combs = [[[0.0] * _size(t + s, sr) for t in COMBS] for s in (0, SPREAD)]
        self.aps = [[[0.0] * _size(t + s, sr) for t in ALLPASSES] for s in (0, SPREAD)]
        self.comb_idx = [[0] * len(COMBS) for _ in range(2)]
        self.comb_store = [[0.0] * len(COMBS) for _ in range(2)]
        self.ap_idx = [[0] * len(ALLPASSES) for _ in range(2)]

    def _derived(self) -> tuple[float, ...]:
        v = self.values
        feedback = v["room_size"] * 0.28 + 0.7
        damp1 = v["damping"] * 0.4
        wet = v["wet"] * 3.0
        wet1 = wet * (v["width"] / 2 + 0.5)
        wet2 = wet * ((1 - v["width"]) / 2)
        return feedback, damp1, 1 - damp1, wet1, wet2, v["dry"] * 2.0

    def _tank(self, side: int, inp: float, feedback: float, damp1: float, damp2: float) -> float:
        acc = 0.0
        for k, buf in enumerate(self.combs[side]):
            i = self.comb_idx[side][k]
            y = buf[i]
            store = y * damp2 + self.comb_store[side][k] * damp1
            self.comb_store[side][k] = store
            buf[i] = inp + store * feedback
            self.comb_idx[side][k] = (i + 1) % len(buf)
            acc += y
        for k, buf in enumerate(self.aps[side]):
            i = self.ap_idx[side][k]
            b = buf[i]
            buf[i] = acc + b * 0.5
            acc = b - acc
            self.ap_idx[side][k] = (i + 1) % len(buf)
        return acc

    def render(self, x: np.ndarray, events: list[tuple[int, str, float]]) -> np.ndarray:
        """Process ``x`` (channels, n); events set params at absolute sample positions."""
        pending = sorted(events, key=lambda e: e[0])
        y = np.zeros(x.shape, np.float64)
        xs = x.astype(np.float64)
        d = self._derived()
        for n in range(x.shape[1]):
            while pending and pending[0][0] <= n:
                _, name, value = pending.pop(0)
                self.values[name] = value
                d = self._derived()
            feedback, damp1, damp2, wet1, wet2, dry = d
            left = xs[0, n]
            right = xs[1, n] if self.channels == 2 else left
            inp = (left + right) * 0.015
            out_l = self._tank(0, inp, feedback, damp1, damp2)
            out_r = self._tank(1, inp, feedback, damp1, damp2)
            if self.channels == 2:
                y[0, n] = out_l * wet1 + out_r * wet2 + left * dry
                y[1, n] = out_r * wet1 + out_l * wet2 + right * dry
            else:
                y[0, n] = (out_l + out_r) * 0.5 * (wet1 + wet2) + left * dry
        return y.astype(np.float32)
