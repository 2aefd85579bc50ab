"""A single-producer, single-consumer ring of audio frames, shared without a lock.

The engine thread and the JACK process callback exchange audio through two of these
(docs/live-audio.md): one carries what the outputs played, one what the capture ports
received. Invariants that make it safe without a lock:

* Exactly one thread writes (advances :attr:`FrameRing.written`) and exactly one reads
  (advances :attr:`FrameRing.read`). Each counter is a Python ``int`` assigned only by its
  owner, and the assignment happens *after* the samples are copied, so the other side
  never sees a frame announced before it is there. (Under CPython an attribute store is
  atomic and ordered for other threads.)
* Counters only grow; ``written - read`` is the fill and never exceeds the capacity,
  because the producer checks :meth:`space` before writing.
* Storage is preallocated; copies go straight into the caller's arrays (no allocation
  beyond the slice views NumPy makes).

Example:
    >>> ring = FrameRing(2, 1024)
    >>> ring.write(np.ones((2, 256), np.float32))
    >>> ring.fill
    256
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


class FrameRing:
    """``channels`` × ``capacity`` float32 frames, written and read in order."""

    def __init__(self, channels: int, capacity: int) -> None:
        """[main-thread] Allocate the storage.

        Raises:
            ValueError: ``capacity`` is not positive.
        """
        if capacity <= 0:
            raise ValueError(f"ring capacity must be positive, got {capacity}")
        self.buf: F32 = np.zeros((channels, capacity), np.float32)
        self.capacity = capacity
        #: Frames written so far (producer-owned).
        self.written = 0
        #: Frames read or skipped so far (consumer-owned).
        self.read = 0

    @property
    def fill(self) -> int:
        """[any-thread] Frames written and not yet read."""
        return self.written - self.read

    def space(self) -> int:
        """[any-thread] Frames that can be written without overwriting unread ones."""
        return self.capacity - (self.written - self.read)

    def _spans(self, first: int, frames: int) -> tuple[int, int]:
        """(offset, frames before the wrap) of ``frames`` frames from absolute frame ``first``."""
        at = first % self.capacity
        return at, min(frames, self.capacity - at)

    def write(self, src: F32) -> None:
        """[producer] Append ``src`` (channels, frames); the caller checked :meth:`space`."""
        frames = src.shape[1]
        at, head = self._spans(self.written, frames)
        self.buf[:, at : at + head] = src[:, :head]
        if head < frames:
            self.buf[:, : frames - head] = src[:, head:]
        self.written += frames

    def write_channels(self, rows: Sequence[F32], frames: int) -> None:
        """[producer] Append ``frames`` frames given as one 1-D array per channel."""
        at, head = self._spans(self.written, frames)
        for ch, row in enumerate(rows):
            self.buf[ch, at : at + head] = row[:head]
            if head < frames:
                self.buf[ch, : frames - head] = row[head:frames]
        self.written += frames

    def write_silence(self, frames: int) -> None:
        """[producer] Append ``frames`` frames of silence (the pre-roll)."""
        at, head = self._spans(self.written, frames)
        self.buf[:, at : at + head] = 0.0
        if head < frames:
            self.buf[:, : frames - head] = 0.0
        self.written += frames

    def read_into(self, dst: F32) -> None:
        """[consumer] Take ``dst.shape[1]`` frames into ``dst``; the caller checked :attr:`fill`."""
        frames = dst.shape[1]
        at, head = self._spans(self.read, frames)
        dst[:, :head] = self.buf[:, at : at + head]
        if head < frames:
            dst[:, head:] = self.buf[:, : frames - head]
        self.read += frames

    def read_channels(self, rows: Sequence[F32], frames: int) -> None:
        """[consumer] Take ``frames`` frames into the first samples of one 1-D array per channel."""
        at, head = self._spans(self.read, frames)
        for ch, row in enumerate(rows):
            row[:head] = self.buf[ch, at : at + head]
            if head < frames:
                row[head:frames] = self.buf[ch, : frames - head]
        self.read += frames

    def skip(self, frames: int) -> None:
        """[consumer] Drop ``frames`` unread frames (at most :attr:`fill`)."""
        self.read += frames
