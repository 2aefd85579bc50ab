"""Per-channel peak and RMS of node buffers, accumulated between feed frames.

The live loop calls :meth:`LevelMeters.accumulate` after every block: one compiled kernel
call per node reads the node's latest buffer in place and folds it into preallocated
``peak``/``sumsq`` arrays (no allocation, no lock). :meth:`LevelMeters.take` copies and
clears them once per published snapshot, so a feed frame shows the loudest sample and the
RMS over every block since the previous frame — not just whichever block happened last.

Which buffer a node is metered on: its output, except for sinks (no output), which are
metered on what they receive (the upstream buffer when the engine reads it in place).

Example:
    >>> import numpy as np
    >>> m = LevelMeters([np.full((2, 4), 0.5, np.float32)])
    >>> m.accumulate(4); peak, rms = m.take()
    >>> peak.tolist(), rms.tolist()
    ([0.5, 0.5], [0.5, 0.5])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numba import njit

from .._processor import Buffer

if TYPE_CHECKING:
    from ..graph import Plan

F64 = npt.NDArray[np.float64]


@njit(cache=True)
def _fold(buf, peak, sumsq, offset):  # type: ignore[no-untyped-def]  # pragma: no cover - jit
    for c in range(buf.shape[0]):
        p = peak[offset + c]
        s = sumsq[offset + c]
        for i in range(buf.shape[1]):
            v = float(buf[c, i])
            a = abs(v)
            if a > p:
                p = a
            s += v * v
        peak[offset + c] = p
        sumsq[offset + c] = s


class LevelMeters:
    """Running peak and sum of squares per channel of a fixed list of buffers."""

    def __init__(self, buffers: Sequence[Buffer]) -> None:
        """[main-thread & !active] Remember the buffers and allocate the accumulators.

        Args:
            buffers: one ``(channels, block)`` array per metered node, read in place after
                every block (views stay valid because the engine never reallocates).
        """
        self.buffers = list(buffers)
        self.channels = [int(b.shape[0]) for b in self.buffers]
        self.offsets = [int(o) for o in np.cumsum([0, *self.channels])[:-1]]
        total = sum(self.channels)
        self.peak: F64 = np.zeros(total, np.float64)
        self.sumsq: F64 = np.zeros(total, np.float64)
        self.frames = 0

    @classmethod
    def for_plan(cls, plan: Plan) -> LevelMeters:
        """Meters on every node of a plan: outputs, and for sinks what they receive."""
        buffers = []
        for node in plan.nodes:
            if node.role != "sink":
                buffers.append(node.out_buf)
            else:  # the engine may read the upstream buffer in place instead of copying
                direct = node.direct
                buffers.append(plan.nodes[direct].out_buf if direct >= 0 else node.in_buf)
        return cls(buffers)

    def accumulate(self, frames: int) -> None:
        """[audio-thread] Fold the first ``frames`` frames of every buffer in."""
        for buf, offset in zip(self.buffers, self.offsets, strict=True):
            if buf.shape[0]:
                _fold(
                    buf if frames == buf.shape[1] else buf[:, :frames],
                    self.peak,
                    self.sumsq,
                    offset,
                )
        self.frames += frames

    def take(self) -> tuple[F64, F64]:
        """[audio-thread] Linear peak and RMS per channel since the last call; then clear."""
        peak = self.peak.copy()
        rms = np.sqrt(self.sumsq / self.frames) if self.frames else np.zeros_like(self.sumsq)
        self.peak.fill(0.0)
        self.sumsq.fill(0.0)
        self.frames = 0
        return peak, rms

    def split(self, values: F64) -> list[F64]:
        """Cut a flat per-channel array back into one array per buffer."""
        return [values[o : o + c] for o, c in zip(self.offsets, self.channels, strict=True)]
