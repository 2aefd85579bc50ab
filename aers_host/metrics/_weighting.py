"""K-weighting and channel weights of ITU-R BS.1770-4, designed for any sample rate.

K-weighting is two biquads designed from the analog prototype via the bilinear
transform (the parametrisation libebur128 and pyloudnorm use): a high shelf (+4 dB above
~1.7 kHz, the head's acoustic effect) and the RLB high-pass (~38 Hz). At 48 kHz the
coefficients equal the standard's Table 1 and 2 to 1e-8; at other rates the response is
the same to 0.05 dB up to 15 kHz (both tested).

Example:
    >>> (shelf_b, shelf_a), (hp_b, hp_a) = k_weighting(48000)
    >>> round(float(shelf_b[0]), 6)
    1.535125
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Analog prototype of stage 1 (high shelf): gain dB, Q, centre Hz, and the Vb exponent.
_SHELF = (3.999843853973347, 0.7071752369554196, 1681.974450955533, 0.4996667741545416)
#: Analog prototype of stage 2 (RLB high-pass): Q and centre Hz.
_HIGHPASS = (0.5003270373238773, 38.13547087602444)


def k_weighting(sample_rate: float) -> tuple[tuple[F64, F64], tuple[F64, F64]]:
    """The two K-weighting biquads ``((b, a) shelf, (b, a) high-pass)`` at ``sample_rate``."""
    gain_db, q, fc, vb_exp = _SHELF
    k = math.tan(math.pi * fc / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**vb_exp
    a0 = 1.0 + k / q + k * k
    shelf_b = (
        np.array([(vh + vb * k / q + k * k), 2.0 * (k * k - vh), (vh - vb * k / q + k * k)]) / a0
    )
    shelf_a = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    q, fc = _HIGHPASS
    k = math.tan(math.pi * fc / sample_rate)
    a0 = 1.0 + k / q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0])
    return (shelf_b, shelf_a), (hp_b, hp_a)


def k_weighting_sos(sample_rate: float) -> F64:
    """The K-weighting filter as second-order sections, shape ``(2, 6)``."""
    (b1, a1), (b2, a2) = k_weighting(sample_rate)
    return np.array([np.concatenate([b1, a1]), np.concatenate([b2, a2])])


def channel_weights(channels: int) -> F64:
    """BS.1770 channel weights: 1.0 for L, R, C; 1.41 for the surrounds; 0 for the LFE.

    Layouts by channel count: 5 is L R C Ls Rs, 6 is L R C LFE Ls Rs (SMPTE/WAV order);
    any other count weighs every channel 1.0.
    """
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(channels)
