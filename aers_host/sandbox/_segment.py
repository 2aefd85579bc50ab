"""The host side of one shared-memory segment: create, map as NumPy once, read, free.

Everything the worker writes here is untrusted: the state snapshots are size-checked and
parsed as JSON only, the error text is decoded with replacement, the ``RUNNING`` slot is
range-checked. Views into the segment are dropped before it is closed
(``SharedMemory.close`` refuses while buffers are exported).
"""

from __future__ import annotations

import contextlib
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from .._processor import Buffer
from . import _protocol as proto


class Segment:
    """One ``aers-<pid>-...`` segment with float32 views of every instance's audio buffers.

    Attributes:
        layout: where each instance's region lies.
        path: the segment's file under ``/dev/shm`` (the worker opens nothing by name;
            the host opens this path to hand the worker a descriptor).
    """

    def __init__(self, layout: proto.Layout) -> None:
        """[main-thread] Create and map the segment."""
        self.layout = layout
        shm = shared_memory.SharedMemory(name=proto.segment_name(), create=True, size=layout.size)
        self._shm: shared_memory.SharedMemory | None = shm
        self.path = str(proto.SHM_DIR / shm.name)
        self.name = shm.name
        buf = shm.buf
        assert buf is not None  # a freshly created segment is mapped
        proto.RUNNING.pack_into(buf, 0, -1)
        self._flat = [
            [
                np.ndarray((r.channels * r.max_block,), np.float32, buf, r.buffer_offset(i))
                for i in range(r.stages + 1)
            ]
            for r in layout.regions
        ]
        self._views: dict[tuple[int, int], tuple[Buffer, Buffer]] = {}

    def io_views(self, instance: int, frames: int) -> tuple[Buffer, Buffer]:
        """[audio-thread] C-contiguous ``(channels, frames)`` views of an instance's in and out.

        Cached per instance and frame count, so a steady block size allocates nothing.
        """
        views = self._views.get((instance, frames))
        if views is None:
            flat = self._flat[instance]
            shape = (self.layout.regions[instance].channels, frames)
            count = shape[0] * frames
            views = (flat[0][:count].reshape(shape), flat[-1][:count].reshape(shape))
            self._views[(instance, frames)] = views
        return views

    def _buf(self) -> memoryview | None:
        return self._shm.buf if self._shm is not None else None

    def running(self) -> int:
        """[any-thread] The instance whose code the worker ran last, -1 when idle or unknown."""
        buf = self._buf()
        if buf is None:
            return -1
        (index,) = proto.RUNNING.unpack_from(buf, 0)
        return index if 0 <= index < len(self.layout.regions) else -1

    def read_states(self, instance: int) -> list[dict[str, Any]] | None:
        """[any-thread] An instance's last state snapshot, if present and well-formed."""
        buf = self._buf()
        if buf is None:
            return None
        region = self.layout.regions[instance]
        base = region.state_offset
        seq, size = proto.STATE_HEADER.unpack_from(buf, base)
        if not seq or size > proto.STATE_CAPACITY:
            return None
        body = base + proto.STATE_HEADER.size
        try:
            states = proto.parse_json(bytes(buf[body : body + size]))
        except ValueError:
            return None
        if not isinstance(states, list) or len(states) != region.stages:
            return None
        return [s if isinstance(s, dict) else {} for s in states]

    def read_error(self, instance: int) -> str:
        """[any-thread] The text of the last exception an instance reported."""
        buf = self._buf()
        if buf is None:
            return ""
        return proto.read_text(buf, self.layout.regions[instance].error_offset, proto.ERROR_AREA)

    def release(self) -> None:
        """[main-thread] Drop the views, unmap and unlink; idempotent."""
        self._views, self._flat = {}, []
        shm, self._shm = self._shm, None
        if shm is not None:
            with contextlib.suppress(OSError, BufferError):
                shm.close()
            with contextlib.suppress(OSError):
                shm.unlink()
