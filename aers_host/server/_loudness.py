"""Live loudness of the outputs: momentary and short-term LUFS and true peak, per sink.

The offline measure (:mod:`aers_host.metrics._loudness`, ITU-R BS.1770-4 / EBU Tech 3341)
computed incrementally on the audio thread, so the dashboard's master section reads what
a loudness meter on the output would:

* every block, one compiled kernel call per sink runs the K-weighting biquads (the same
  coefficients as the offline measure, float64 state kept across blocks) and adds the
  channel-weighted squares into 100 ms buckets; a ring of the last 30 buckets gives the
  momentary (last 4: 400 ms) and short-term (all 30: 3 s) loudness, exactly the offline
  windows that end at the newest bucket boundary;
* true peak: 4× oversampling by a polyphase low-pass FIR (windowed sinc, 64 taps, cut at
  the original Nyquist), the largest magnitude of the oversampled and the original
  samples since the previous snapshot.

Everything is allocated at ``for_plan``; ``accumulate`` allocates nothing.

Example:
    >>> import numpy as np
    >>> buf = np.zeros((2, 4800), np.float32)
    >>> meter = LoudnessMeters([buf], [0], 48000)
    >>> meter.accumulate(4800); meter.take()[0][0] is None   # fewer than 400 ms so far
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numba import njit

from .._processor import Buffer
from ..metrics._loudness import channel_weights, k_weighting_sos

if TYPE_CHECKING:
    from ..graph import Plan

F64 = npt.NDArray[np.float64]
#: Buckets of 100 ms kept: the short-term window (3 s).
RING = 30
#: Buckets in the momentary window (400 ms).
MOMENTARY = 4
OVERSAMPLE = 4
TAPS = 64


def oversampling_fir() -> F64:
    """Polyphase taps ``(OVERSAMPLE, TAPS // OVERSAMPLE)`` of the true-peak interpolator."""
    from scipy.signal import firwin

    h = firwin(TAPS, 1.0 / OVERSAMPLE, window=("kaiser", 8.0)) * OVERSAMPLE
    return np.ascontiguousarray(h.reshape(-1, OVERSAMPLE).T)


@njit(cache=True)
def _fold(buf, sos, zi, weights, acc, ring, fir, hist, peak):  # type: ignore[no-untyped-def]  # pragma: no cover - jit
    """K-weight ``buf`` into 100 ms buckets and track its 4× oversampled peak.

    ``acc``: [bucket sum, samples in bucket, bucket length, next ring slot, buckets filled];
    ``hist``: per channel, the last input samples (newest at ``[:, 0]``).
    """
    channels, frames = buf.shape
    phases, taps = fir.shape
    hop = int(acc[2])
    for i in range(frames):
        total = 0.0
        for c in range(channels):
            x = float(buf[c, i])
            # True peak: shift the history, then every phase of the interpolator.
            for k in range(taps - 1, 0, -1):
                hist[c, k] = hist[c, k - 1]
            hist[c, 0] = x
            a = abs(x)
            if a > peak[0]:
                peak[0] = a
            for p in range(phases):
                y = 0.0
                for k in range(taps):
                    y += fir[p, k] * hist[c, k]
                y = abs(y)
                if y > peak[0]:
                    peak[0] = y
            # K-weighting: two biquads, transposed direct form II.
            v = x
            for s in range(2):
                b0, b1, b2 = sos[s, 0], sos[s, 1], sos[s, 2]
                a1, a2 = sos[s, 4], sos[s, 5]
                out = b0 * v + zi[c, s, 0]
                zi[c, s, 0] = b1 * v - a1 * out + zi[c, s, 1]
                zi[c, s, 1] = b2 * v - a2 * out
                v = out
            total += weights[c] * v * v
        acc[0] += total
        acc[1] += 1.0
        if int(acc[1]) == hop:
            slot = int(acc[3])
            ring[slot] = acc[0] / hop
            acc[3] = float((slot + 1) % ring.shape[0])
            acc[4] = min(acc[4] + 1.0, float(ring.shape[0]))
            acc[0] = 0.0
            acc[1] = 0.0


_warmed = False


def _warm() -> None:
    """[main-thread] Compile (or load) the kernel for whole and cut blocks, never on audio."""
    global _warmed
    if _warmed:
        return
    buf = np.zeros((1, 8), np.float32)
    fir = oversampling_fir()
    for view in (buf, buf[:, :4]):  # a pass's last, shorter block is a non-contiguous view
        state = (np.zeros((1, 2, 2)), np.ones(1), np.array([0.0, 0.0, 4.0, 0.0, 0.0]))
        _fold(view, k_weighting_sos(48000), *state, np.zeros(2), fir,
              np.zeros((1, fir.shape[1])), np.zeros(1))  # fmt: skip
    _warmed = True


class LoudnessMeters:
    """Momentary/short-term loudness and true peak of a fixed list of sink buffers."""

    def __init__(self, buffers: Sequence[Buffer], nodes: Sequence[int], sample_rate: int) -> None:
        """[main-thread & !active] Remember the buffers and allocate every state array.

        Args:
            buffers: one ``(channels, block)`` array per metered sink, read after each block.
            nodes: the plan index of each buffer's node.
            sample_rate: Hz (sets the filters and the 100 ms bucket).
        """
        _warm()
        self.buffers = list(buffers)
        self.nodes = list(nodes)
        self.sos = k_weighting_sos(sample_rate)
        self.fir = oversampling_fir()
        hop = float(round(0.1 * sample_rate))
        self.state = [
            (
                np.zeros((b.shape[0], 2, 2)),
                channel_weights(b.shape[0]),
                np.array([0.0, 0.0, hop, 0.0, 0.0]),
                np.zeros(RING),
                np.zeros((b.shape[0], self.fir.shape[1])),
                np.zeros(1),
            )
            for b in self.buffers
        ]

    @classmethod
    def for_plan(cls, plan: Plan, buffers: Sequence[Buffer]) -> LoudnessMeters:
        """Meters on the plan's sinks; ``buffers`` are the level meters' (one per node)."""
        sinks = [i for i, n in enumerate(plan.nodes) if n.role == "sink" and buffers[i].shape[0]]
        return cls([buffers[i] for i in sinks], sinks, plan.sample_rate)

    def accumulate(self, frames: int) -> None:
        """[audio-thread] Fold the first ``frames`` frames of every sink's buffer in."""
        for buf, (zi, weights, acc, ring, hist, peak) in zip(self.buffers, self.state, strict=True):
            view = buf if frames == buf.shape[1] else buf[:, :frames]
            _fold(view, self.sos, zi, weights, acc, ring, self.fir, hist, peak)

    def take(self) -> list[tuple[float | None, float | None, float]]:
        """[audio-thread] Per sink: momentary LUFS, short-term LUFS, true peak (dBTP).

        The loudness is None until its window is full; the true peak is the largest since
        the previous call, which clears it.
        """
        readings = []
        for _, _, acc, ring, _, peak in self.state:
            filled, slot = int(acc[4]), int(acc[3])
            momentary = short = None
            if filled >= MOMENTARY:
                last = [ring[(slot - k - 1) % RING] for k in range(MOMENTARY)]
                momentary = _lufs(sum(last) / MOMENTARY)
            if filled >= RING:
                short = _lufs(float(ring.mean()))
            true_peak = 20.0 * math.log10(max(float(peak[0]), 1e-6))
            peak[0] = 0.0
            readings.append((momentary, short, true_peak))
        return readings


def _lufs(power: float) -> float:
    """``-0.691 + 10 log10(power)``, floored at -120 LUFS for silence."""
    return -0.691 + 10.0 * math.log10(max(power, 1e-12))
