"""Python reference for plugins/native_eq: RBJ cookbook biquad + tanh saturation.

Written independently of the C++ from the cookbook formulas, filtered with
scipy.signal.lfilter (transposed direct form II, float64) segment by segment, carrying the
filter state across parameter changes exactly as a sample-accurate plugin must.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

PARAMS = {
    "filter_type": (0.0, 0.0, 4.0),
    "freq": (1000.0, 20.0, 20000.0),
    "gain_db": (0.0, -24.0, 24.0),
    "q": (1 / math.sqrt(2.0), 0.1, 18.0),
    "drive_db": (0.0, 0.0, 36.0),
    "saturation": (0.0, 0.0, 1.0),
}


def coefficients(values: dict[str, float], sr: float) -> tuple[np.ndarray, np.ndarray]:
    f = min(values["freq"], 0.49 * sr)
    big_a = 10.0 ** (values["gain_db"] / 40.0)
    w0 = 2.0 * math.pi * f / sr
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * values["q"])
    sq = 2.0 * math.sqrt(big_a) * alpha
    kind = int(values["filter_type"])
    ap, am = big_a + 1, big_a - 1
    if kind == 1:  # low shelf
        b = [big_a * (ap - am * cw + sq), 2 * big_a * (am - ap * cw), big_a * (ap - am * cw - sq)]
        a = [ap + am * cw + sq, -2 * (am + ap * cw), ap + am * cw - sq]
    elif kind == 2:  # high shelf
        b = [big_a * (ap + am * cw + sq), -2 * big_a * (am + ap * cw), big_a * (ap + am * cw - sq)]
        a = [ap - am * cw + sq, 2 * (am - ap * cw), ap - am * cw - sq]
    elif kind == 3:  # low pass
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == 4:  # high pass
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:  # peak
        b = [1 + alpha * big_a, -2 * cw, 1 - alpha * big_a]
        a = [1 + alpha / big_a, -2 * cw, 1 - alpha / big_a]
    return np.array(b) / a[0], np.array(a) / a[0]


def render(
    x: np.ndarray, sr: float, values: dict[str, float], events: list[tuple[int, str, float]]
) -> np.ndarray:
    """Filter ``x`` (channels, n) with params changing at absolute sample positions."""
    values = {name: spec[0] for name, spec in PARAMS.items()} | values
    y = np.zeros(x.shape, np.float64)
    zi = np.zeros((x.shape[0], 2))
    cuts = sorted(events, key=lambda e: e[0])
    pos = 0
    for at, name, value in [*cuts, (x.shape[1], "", 0.0)]:
        if at > pos:
            b, a = coefficients(values, sr)
            seg = x[:, pos:at].astype(np.float64)
            out, zi = lfilter(b, a, seg, axis=1, zi=zi)
            mix, g = values["saturation"], 10.0 ** (values["drive_db"] / 20.0)
            if mix:
                out = out + mix * (np.tanh(g * out) / g - out)
            y[:, pos:at] = out
            pos = at
        if name:
            values[name] = float(value)
    return y.astype(np.float32)
