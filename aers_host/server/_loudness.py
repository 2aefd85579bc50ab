"""Live loudness of the outputs: momentary and short-term LUFS and true peak, per sink.

The render's meter (:mod:`aers_host.metrics`: ITU-R BS.1770-4, EBU R 128 windows) kept
for a run that never ends: the same compiled kernels — K-weighted energy per 100 ms
segment, and the Annex 2 4× true-peak interpolator — fed by the audio thread after every
block, with the segment sums in a short ring instead of an array sized for the run:

* momentary loudness = the last 4 complete segments (400 ms), short-term = the last 30
  (3 s) — exactly the offline windows that end at the newest segment boundary;
* true peak = the larger of the sample peak and the interpolated peak since the previous
  snapshot (each :meth:`LoudnessMeters.take` starts a new span).

Everything is allocated (and the kernels compiled) at construction; ``accumulate``
allocates no arrays.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._processor import Buffer
from ..metrics._bs1770 import HISTORY, SPAN, interpolator_taps, kweight_energy, true_peak_block
from ..metrics._weighting import channel_weights, k_weighting_sos

if TYPE_CHECKING:
    from ..graph import Plan

F64 = npt.NDArray[np.float64]
#: Segments (100 ms) in the short-term window; the momentary window's.
SHORT_TERM, MOMENTARY = 30, 4
#: Segment slots of the ring: complete segments are moved back to its start when it fills.
SLOTS = 128


@dataclass(slots=True)
class _Sink:
    """The state of one sink's meter (every array allocated once)."""

    buf: Buffer
    weights: F64
    zi: F64
    energy: F64
    pos: npt.NDArray[np.int64]
    hist: F64
    work: F64
    acc: F64
    peaks: F64
    scratch: F64


class LoudnessMeters:
    """Momentary/short-term loudness and true peak of a fixed list of sink buffers."""

    def __init__(self, buffers: Sequence[Buffer], nodes: Sequence[int], sample_rate: int) -> None:
        """[main-thread & !active] Allocate every state array and compile the kernels.

        Args:
            buffers: one ``(channels, block)`` array per metered sink, read after each block.
            nodes: the plan index of each buffer's node.
            sample_rate: Hz (sets the filters and the 100 ms segment).
        """
        self.nodes = list(nodes)
        self.sos = np.ascontiguousarray(k_weighting_sos(sample_rate))
        self.taps = interpolator_taps()
        self.segment = max(1, round(sample_rate / 10))
        self.sinks = [
            _Sink(
                buf=b,
                weights=np.ascontiguousarray(channel_weights(b.shape[0]), np.float64),
                zi=np.zeros((b.shape[0], 2, 2)),
                energy=np.zeros(SLOTS),
                pos=np.array([0, 0, self.segment], np.int64),
                hist=np.zeros((b.shape[0], HISTORY)),
                work=np.zeros(b.shape[1] + HISTORY),
                acc=np.zeros(SPAN),
                peaks=np.zeros(2),
                scratch=np.zeros(SHORT_TERM + 1),
            )
            for b in buffers
        ]
        for sink in self.sinks:  # compile (or load) for whole and cut blocks, never on audio
            self._fold(sink, sink.buf.shape[1])
            self._fold(sink, 1)
            self._clear(sink)

    @classmethod
    def for_plan(cls, plan: Plan, buffers: Sequence[Buffer]) -> LoudnessMeters:
        """Meters on the plan's sinks; ``buffers`` are the level meters' (one per node)."""
        sinks = [i for i, n in enumerate(plan.nodes) if n.role == "sink" and buffers[i].shape[0]]
        return cls([buffers[i] for i in sinks], sinks, plan.sample_rate)

    def _fold(self, s: _Sink, frames: int) -> None:
        view = s.buf if frames == s.buf.shape[1] else s.buf[:, :frames]
        kweight_energy(view, frames, self.sos, s.weights, s.zi, s.energy, s.pos)
        true_peak_block(view, frames, self.taps, s.hist, s.work, s.acc, s.peaks)
        done = int(s.pos[0])
        if done >= SLOTS - 4:  # keep the last 30 complete segments and the one filling
            keep = min(done, SHORT_TERM)
            s.scratch[: keep + 1] = s.energy[done - keep : done + 1]
            s.energy.fill(0.0)
            s.energy[: keep + 1] = s.scratch[: keep + 1]
            s.pos[0] = keep

    @staticmethod
    def _clear(s: _Sink) -> None:
        for array in (s.zi, s.energy, s.hist, s.peaks):
            array.fill(0.0)
        s.pos[0] = s.pos[1] = 0

    def accumulate(self, frames: int) -> None:
        """[audio-thread] Fold the first ``frames`` frames of every sink's buffer in."""
        for sink in self.sinks:
            self._fold(sink, frames)

    def take(self) -> list[tuple[float | None, float | None, float]]:
        """[audio-thread] Per sink: momentary LUFS, short-term LUFS, true peak (dBTP).

        The loudness is None until its window is full; the true peak is the largest since
        the previous call, which clears it.
        """
        readings = []
        for s in self.sinks:
            done = int(s.pos[0])
            momentary = short = None
            if done >= MOMENTARY:
                momentary = _lufs(
                    float(s.energy[done - MOMENTARY : done].sum()), MOMENTARY * self.segment
                )
            if done >= SHORT_TERM:
                short = _lufs(
                    float(s.energy[done - SHORT_TERM : done].sum()), SHORT_TERM * self.segment
                )
            true_peak = 20.0 * math.log10(max(float(s.peaks.max()), 1e-6))
            s.peaks.fill(0.0)
            readings.append((momentary, short, true_peak))
        return readings


def _lufs(energy: float, frames: int) -> float:
    """``-0.691 + 10 log10(mean power)``, floored at -120 LUFS for silence."""
    return -0.691 + 10.0 * math.log10(max(energy / frames, 1e-12))
