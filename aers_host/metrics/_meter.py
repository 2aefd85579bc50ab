"""A streaming BS.1770-4 / EBU R 128 loudness meter fed block by block.

:class:`LoudnessMeter` allocates everything at construction, for a known capacity, and
:meth:`LoudnessMeter.process` then only runs the compiled kernels of :mod:`._bs1770` on
each block — nothing is allocated, no audio is kept. After the run the figures come from
the 100 ms segment sums:

* momentary loudness = 4 segments (400 ms), short-term = 30 segments (3 s), both every
  100 ms; only whole windows count, as in the one-shot functions of :mod:`._loudness`;
* integrated loudness gates the 400 ms blocks at -70 LUFS, then 10 LU under their mean;
* loudness range (EBU Tech 3342) takes the short-term values, gates them at -70 LUFS and
  then 20 LU under their mean, and reads the spread between the 10th and 95th
  percentiles;
* true peak is the larger of the sample peak and the 4× Annex 2 interpolation, whose
  last 11 samples are flushed with silence by :meth:`LoudnessMeter.finish`.

A segment is ``round(sample_rate / 10)`` frames, exactly 100 ms at every rate the engine
accepts that is a multiple of 10 Hz.

Example:
    >>> import numpy as np
    >>> meter = LoudnessMeter(48000, 2, 48000, 5 * 48000)
    >>> tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * np.arange(48000) / 48000)
    >>> for _ in range(5):
    ...     meter.process(np.stack([tone, tone]), 48000)
    >>> round(meter.stats().integrated_lufs, 1)
    -23.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._bs1770 import HISTORY, SPAN, interpolator_taps, measure_block, true_peak_block
from ._weighting import channel_weights, k_weighting_sos

F64 = npt.NDArray[np.float64]
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
#: Tech 3342: short-term values more than 20 LU under their mean do not count to the range.
LRA_RELATIVE_GATE = -20.0
LRA_PERCENTILES = (10.0, 95.0)
MOMENTARY_SEGMENTS, SHORT_TERM_SEGMENTS = 4, 30


@dataclass(frozen=True, slots=True)
class LoudnessStats:
    """What a report says about one output's level."""

    integrated_lufs: float
    momentary_max_lufs: float
    short_term_max_lufs: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    #: EBU Tech 3342 loudness range in LU (0.0 when fewer than two short-term values pass).
    loudness_range_lu: float = 0.0


def power_to_lufs(power: F64 | float) -> F64:
    """``-0.691 + 10 log10(power)``, -inf for silence."""
    with np.errstate(divide="ignore"):
        return np.asarray(-0.691 + 10.0 * np.log10(power), np.float64)


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def gated_loudness(power: F64) -> float:
    """Integrated loudness from 400 ms gating-block powers (absolute, then relative gate)."""
    if power.size == 0:
        return -math.inf
    loud = power_to_lufs(power)
    above = power[loud > ABSOLUTE_GATE]
    if above.size == 0:
        return -math.inf
    relative = float(power_to_lufs(float(above.mean()))) + RELATIVE_GATE
    gated = power[(loud > ABSOLUTE_GATE) & (loud > relative)]
    return float(power_to_lufs(float(gated.mean()))) if gated.size else -math.inf


def loudness_range(short_term_power: F64) -> float:
    """EBU Tech 3342 loudness range (LU) from 3 s short-term powers on a 100 ms grid."""
    loud = power_to_lufs(short_term_power)
    above = short_term_power[loud > ABSOLUTE_GATE]
    if above.size == 0:
        return 0.0
    relative = float(power_to_lufs(float(above.mean()))) + LRA_RELATIVE_GATE
    gated = loud[(loud > ABSOLUTE_GATE) & (loud > relative)]
    if gated.size < 2:
        return 0.0
    low, high = np.percentile(gated, LRA_PERCENTILES)
    return float(high - low)


def window_power(segments: F64, count: int, segment_frames: int) -> F64:
    """Mean-square power of every run of ``count`` consecutive segments (100 ms hop)."""
    if segments.size < count:
        return np.zeros(0)
    cumulative = np.concatenate([[0.0], np.cumsum(segments)])
    return np.asarray((cumulative[count:] - cumulative[:-count]) / (count * segment_frames))


class LoudnessMeter:
    """[main-thread] Streaming loudness, range and true peak of one ``(channels, …)`` signal."""

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        max_block: int,
        capacity_frames: int,
        *,
        weights: Sequence[float] | None = None,
        segment_s: float = 0.1,
    ) -> None:
        """[main-thread & !active] Allocate for at most ``capacity_frames`` frames.

        Args:
            sample_rate: Hz; the K-weighting is designed for it.
            channels: channel count of every block.
            max_block: largest ``frames`` :meth:`process` will be given.
            capacity_frames: frames of the whole run; later segments are not measured.
            weights: per-channel weights (default: BS.1770's for ``channels``).
            segment_s: the grid windows start on (R 128: 100 ms).

        Raises:
            ValueError: ``weights`` does not give one weight per channel.
        """
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.max_block = max(int(max_block), HISTORY)
        self.segment_frames = max(1, round(sample_rate * segment_s))
        w = weights if weights is not None else channel_weights(channels)
        self._weights = np.ascontiguousarray(w, np.float64)
        if self._weights.shape != (self.channels,):
            raise ValueError(f"{len(self._weights)} channel weights for {channels} channels")
        self._sos = np.ascontiguousarray(k_weighting_sos(sample_rate))
        self._zi = np.zeros((channels, 2, 2), np.float64)
        #: Whole segments that fit the capacity (one more slot takes a trailing partial one).
        self.capacity_segments = capacity_frames // self.segment_frames
        self._energy = np.zeros(self.capacity_segments + 1, np.float64)
        self._pos = np.array([0, 0, self.segment_frames], np.int64)
        self._taps = interpolator_taps()
        self._hist = np.zeros((channels, HISTORY), np.float64)
        self._work = np.zeros(self.max_block + HISTORY, np.float64)
        self._acc = np.zeros(SPAN, np.float64)
        self._silence = np.zeros((channels, HISTORY), np.float64)
        self._peaks = np.zeros(2, np.float64)
        self._flushed = False

    def process(self, block: npt.NDArray[np.floating], frames: int) -> None:
        """[any-thread, one at a time] Measure ``block[:, :frames]`` (no allocation, no copy).

        ``block`` may be any ``(channels, >= frames)`` view, e.g. the transpose of an
        interleaved ``(frames, channels)`` chunk.

        Raises:
            ValueError: the block does not fit what the meter was built for (the kernels
                index without bounds checks, so this is checked here, once per call).
        """
        if block.shape[0] != self.channels or not 0 <= frames <= min(
            block.shape[1], self.max_block
        ):
            raise ValueError(
                f"a {block.shape} block with frames={frames} does not fit a meter of "
                f"{self.channels} channels and max_block={self.max_block}"
            )
        measure_block(
            block, frames, self._sos, self._weights, self._zi, self._energy, self._pos,
            self._taps, self._hist, self._work, self._acc, self._peaks,
        )  # fmt: skip

    def finish(self) -> None:
        """[main-thread] Interpolate past the last sample (silence follows it); once only."""
        if not self._flushed:
            self._flushed = True
            true_peak_block(
                self._silence,
                HISTORY,
                self._taps,
                self._hist,
                self._work,
                self._acc,
                self._peaks,
            )

    def segments(self) -> F64:
        """Channel-weighted K-weighted energy of every complete 100 ms segment."""
        return self._energy[: min(int(self._pos[0]), self.capacity_segments)]

    def momentary_power(self) -> F64:
        """Mean-square power of each 400 ms window on the 100 ms grid (gating blocks)."""
        return window_power(self.segments(), MOMENTARY_SEGMENTS, self.segment_frames)

    def short_term_power(self) -> F64:
        """Mean-square power of each 3 s window on the 100 ms grid."""
        return window_power(self.segments(), SHORT_TERM_SEGMENTS, self.segment_frames)

    def short_term(self) -> tuple[F64, F64]:
        """``(t, lufs)``: short-term loudness, ``t`` the end of each 3 s window in seconds."""
        lufs = power_to_lufs(self.short_term_power())
        step = self.segment_frames / self.sample_rate
        return np.asarray((SHORT_TERM_SEGMENTS + np.arange(lufs.size)) * step, np.float64), lufs

    def momentary(self) -> tuple[F64, F64]:
        """``(t, lufs)``: momentary loudness, ``t`` the end of each 400 ms window in seconds."""
        lufs = power_to_lufs(self.momentary_power())
        step = self.segment_frames / self.sample_rate
        return np.asarray((MOMENTARY_SEGMENTS + np.arange(lufs.size)) * step, np.float64), lufs

    def stats(self) -> LoudnessStats:
        """[main-thread] Every figure of what was measured (calls :meth:`finish`)."""
        self.finish()
        momentary, short = self.momentary_power(), self.short_term_power()
        sample_peak, interpolated = float(self._peaks[0]), float(self._peaks[1])
        return LoudnessStats(
            integrated_lufs=gated_loudness(momentary),
            momentary_max_lufs=float(power_to_lufs(float(momentary.max())))
            if momentary.size
            else -math.inf,
            short_term_max_lufs=float(power_to_lufs(float(short.max())))
            if short.size
            else -math.inf,
            true_peak_dbtp=_db(max(sample_peak, interpolated)),
            sample_peak_dbfs=_db(sample_peak),
            loudness_range_lu=loudness_range(short),
        )
