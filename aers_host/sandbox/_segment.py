"""The host side of one shared-memory segment: create, map as NumPy once, read, free.

Everything the worker writes here is untrusted: the state snapshot is size-checked and
parsed as JSON only, the error text is decoded with replacement. Views into the segment
are dropped before it is closed (``SharedMemory.close`` refuses while buffers are
exported).
"""

from __future__ import annotations

import contextlib
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from .._processor import Buffer
from . import _protocol as proto


class Segment:
    """One ``aers-<pid>-...`` segment with float32 views of its audio buffers.

    Attributes:
        layout: where each buffer lies.
        path: the segment's file under ``/dev/shm`` (the worker opens nothing by name;
            the host opens this path to hand the worker a descriptor).
    """

    def __init__(self, channels: int, max_block: int, stages: int) -> None:
        """[main-thread] Create and map the segment."""
        self.layout = proto.Layout(channels, max_block, stages)
        self._shm: shared_memory.SharedMemory | None = shared_memory.SharedMemory(
            name=proto.segment_name(), create=True, size=self.layout.size
        )
        self.path = str(proto.SHM_DIR / self._shm.name)
        self.name = self._shm.name
        total = channels * max_block
        buf = self._shm.buf
        self._flat = [
            np.ndarray((total,), np.float32, buf, self.layout.buffer_offset(i))
            for i in range(stages + 1)
        ]
        self._views: dict[int, tuple[Buffer, Buffer]] = {}

    def io_views(self, frames: int) -> tuple[Buffer, Buffer]:
        """[audio-thread] C-contiguous ``(channels, frames)`` views of chain input and output.

        Cached per frame count, so a steady block size allocates nothing.
        """
        views = self._views.get(frames)
        if views is None:
            shape = (self.layout.channels, frames)
            count = shape[0] * frames
            views = (self._flat[0][:count].reshape(shape), self._flat[-1][:count].reshape(shape))
            self._views[frames] = views
        return views

    def _buf(self) -> memoryview | None:
        return self._shm.buf if self._shm is not None else None

    def read_states(self, stages: int) -> list[dict[str, Any]] | None:
        """[any-thread] The worker's last state snapshot, if present and well-formed."""
        buf = self._buf()
        if buf is None:
            return None
        base = self.layout.state_offset
        seq, size = proto.STATE_HEADER.unpack_from(buf, base)
        if not seq or size > proto.STATE_CAPACITY:
            return None
        body = base + proto.STATE_HEADER.size
        try:
            states = proto.parse_json(bytes(buf[body : body + size]))
        except ValueError:
            return None
        if not isinstance(states, list) or len(states) != stages:
            return None
        return [s if isinstance(s, dict) else {} for s in states]

    def read_error(self) -> str:
        """[any-thread] The text of the last exception the worker reported."""
        buf = self._buf()
        if buf is None:
            return ""
        return proto.read_text(buf, self.layout.error_offset, proto.ERROR_AREA)

    def release(self) -> None:
        """[main-thread] Drop the views, unmap and unlink; idempotent."""
        self._views, self._flat = {}, []
        shm, self._shm = self._shm, None
        if shm is not None:
            with contextlib.suppress(OSError, BufferError):
                shm.close()
            with contextlib.suppress(OSError):
                shm.unlink()
