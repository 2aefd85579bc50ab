"""Loudness and peak of a whole signal per ITU-R BS.1770-4 (EBU R 128, Tech 3341/3342).

One-shot helpers for audio already in memory (batch summaries, tests, the Python API).
They feed the signal through the same :class:`~._meter.LoudnessMeter` a render streams
its outputs into, in one call, so a figure never depends on which path measured it.

* Gating blocks are 400 ms with 75 % overlap; integrated loudness gates at -70 LUFS
  absolute and -10 LU relative. Momentary is 400 ms, short-term 3 s, both on a 100 ms hop.
* True peak interpolates 4× with the BS.1770-4 Annex 2 FIR and reads the largest
  magnitude — inter-sample peaks a sample meter misses.
* Loudness range follows EBU Tech 3342 (short-term values, -70 LUFS and -20 LU gates,
  10th to 95th percentile).

Example:
    >>> import numpy as np
    >>> t = np.arange(48000 * 5) / 48000
    >>> tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    >>> round(integrated_loudness(np.stack([tone, tone]), 48000), 1)
    -23.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ._meter import (
    LoudnessMeter,
    LoudnessStats,
    gated_loudness,
    power_to_lufs,
    window_power,
)

Samples = npt.NDArray[np.floating]
F64 = npt.NDArray[np.float64]


def _as_channels(x: Samples) -> Samples:
    data = np.asarray(x)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    return data[np.newaxis, :] if data.ndim == 1 else data


def meter_for(
    x: Samples,
    sample_rate: float,
    *,
    weights: Sequence[float] | None = None,
    segment_s: float = 0.1,
) -> LoudnessMeter:
    """A :class:`LoudnessMeter` that has measured all of ``x`` (``(channels, frames)`` or mono)."""
    data = _as_channels(x)
    frames = data.shape[1]
    meter = LoudnessMeter(
        round(sample_rate), data.shape[0], frames, frames, weights=weights, segment_s=segment_s
    )
    meter.process(data, frames)
    meter.finish()
    return meter


def block_power(
    x: Samples,
    sample_rate: float,
    window_s: float,
    hop_s: float = 0.1,
    weights: Sequence[float] | None = None,
) -> F64:
    """Channel-weighted mean square of K-weighted audio per window, on a ``hop_s`` grid.

    Args:
        x: ``(channels, frames)`` (or mono ``(frames,)``) audio.
        sample_rate: Hz.
        window_s: window length (0.4 momentary/gating, 3.0 short-term).
        hop_s: distance between window starts.
        weights: per-channel weights (default: BS.1770's).

    Returns:
        ``sum_i G_i * z_i`` per complete window (incomplete trailing windows are dropped).

    Raises:
        ValueError: the window is not a whole number of hops.
    """
    hop, window = round(hop_s * sample_rate), round(window_s * sample_rate)
    if hop <= 0 or window % hop:
        raise ValueError(f"window {window_s} s is not a whole number of {hop_s} s hops")
    meter = meter_for(x, sample_rate, weights=weights, segment_s=hop_s)
    return window_power(meter.segments(), window // hop, hop)


def integrated_loudness(x: Samples, sample_rate: float) -> float:
    """Programme loudness in LUFS (BS.1770-4 gating); -inf when everything is gated out."""
    return gated_loudness(meter_for(x, sample_rate).momentary_power())


def momentary_loudness(x: Samples, sample_rate: float) -> F64:
    """Momentary loudness (400 ms) every 100 ms, in LUFS."""
    return power_to_lufs(meter_for(x, sample_rate).momentary_power())


def short_term_loudness(x: Samples, sample_rate: float) -> F64:
    """Short-term loudness (3 s) every 100 ms, in LUFS."""
    return power_to_lufs(meter_for(x, sample_rate).short_term_power())


def loudness_range(x: Samples, sample_rate: float) -> float:
    """EBU Tech 3342 loudness range in LU."""
    return meter_for(x, sample_rate).stats().loudness_range_lu


def sample_peak_db(x: Samples) -> float:
    """Largest sample magnitude in dBFS."""
    data = np.asarray(x)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def true_peak_db(x: Samples) -> float:
    """Largest magnitude of the 4× interpolated signal (or a sample), in dBTP.

    The Annex 2 interpolator works on the normalised frequency axis: the figure does not
    depend on the sample rate (the meter's rate only designs its K-weighting).
    """
    data = _as_channels(x)
    if data.size == 0:
        return -math.inf
    return meter_for(data, 48000).stats().true_peak_dbtp


def measure(x: Samples, sample_rate: float) -> LoudnessStats:
    """All loudness and peak figures of ``(channels, frames)`` audio."""
    return meter_for(x, sample_rate).stats()
