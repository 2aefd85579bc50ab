"""Wire format between host and worker, and the shared-memory layout both agree on.

Per block only a doorbell crosses the pipe: ``DOORBELL`` (kind, span, instance, sequence
number, frames, start sample, event count) followed by ``EVENT`` records (offset, parameter
index, value); the worker answers with ``REPLY`` (sequence number, status, error mask, NaN
mask). Audio never crosses the pipe: it sits in one shared-memory segment mapped once on
both sides.

One worker may host several *instances* (the plugin chains of several graph nodes that
share it, ``isolation: shared`` or ``per-plugin``). A doorbell addresses ``instance``; a
block doorbell with ``span`` > 1 is followed (after its events) by ``span`` ``ROUTE``
records naming the instances to run in sequence, each reading the previous one's output (a
fused chain of graph nodes: one round trip for all of them); ``instance`` is then the
first of them. The reply's masks cover every stage of the route, in order. Events always
address the first instance of the route.

Start-up and main-thread requests (state) use length-prefixed JSON blobs. Nothing from the
worker is ever unpickled by the host: replies are fixed structs, blobs are size-capped JSON.

Segment layout (``Layout``): a small header, then one ``Region`` per instance. The header
holds ``RUNNING``: the index of the instance whose plugin code the worker is executing
(-1 when idle), written before each call, so after a crash or hang the host knows the
culprit. A region holds, all float32 and each ``channels * max_block`` long,
``[stage 0 input][stage 1 input = stage 0 output]...[final output]``, then the state area
(the instance's last JSON state snapshot behind ``STATE_HEADER``: sequence, length) and
the text of its last exception.

Segments are named ``aers-<hostpid>-<n>-<random>`` so :func:`cleanup_stale_segments` can
remove those of hosts that no longer exist.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Final

DOORBELL: Final = struct.Struct("<BBHIIqI")
EVENT: Final = struct.Struct("<IId")
REPLY: Final = struct.Struct("<IIII")
BLOB_HEADER: Final = struct.Struct("<I")
STATE_HEADER: Final = struct.Struct("<QI4x")
RUNNING: Final = struct.Struct("<i")
#: Bytes before the first region (the ``RUNNING`` slot, padded to a cache line).
HEADER_BYTES: Final = 64
#: Most stages one block doorbell may cover (the reply masks are 32-bit).
MAX_SPAN_STAGES: Final = 32

KIND_BLOCK: Final = 1
KIND_GET_STATE: Final = 2
KIND_SET_STATE: Final = 3
KIND_RESET: Final = 4
KIND_QUIT: Final = 5

STATUS_OK: Final = 0
STATUS_ERROR: Final = 1

#: One instance index of a fused block's route (``span`` of them follow the events).
ROUTE: Final = struct.Struct("<H")
#: Most instances one block doorbell may route through.
MAX_SPAN: Final = 32
#: Events carried per doorbell; keeps a doorbell and its route within PIPE_BUF (one write).
MAX_EVENTS: Final = (4096 - DOORBELL.size - MAX_SPAN * ROUTE.size) // EVENT.size
#: Largest JSON blob either side accepts (state, config, hello).
MAX_BLOB: Final = 4 << 20
#: Bytes reserved for state snapshots in the segment.
STATE_CAPACITY: Final = 64 << 10
#: Bytes for the text of the last exception a plugin raised.
ERROR_AREA: Final = 512

SHM_DIR: Final = Path("/dev/shm")  # noqa: S108 - POSIX shm mount, names are ours and unique
SEGMENT_PREFIX: Final = "aers-"
_SEGMENT_RE: Final = re.compile(r"^aers-(\d+)-\d+-[0-9a-f]+$")
_counter = count(1)


@dataclass(frozen=True, slots=True)
class Region:
    """Where one instance's buffers, state and error text lie in the segment."""

    channels: int
    max_block: int
    stages: int
    base: int

    @property
    def buffer_bytes(self) -> int:
        """[any-thread] Bytes of one float32 audio buffer."""
        return self.channels * self.max_block * 4

    def buffer_offset(self, index: int) -> int:
        """[any-thread] Offset of buffer ``index`` (0 = chain input, ``stages`` = chain output)."""
        return self.base + index * self.buffer_bytes

    @property
    def state_offset(self) -> int:
        """[any-thread] Offset of the state area (header then JSON)."""
        return self.buffer_offset(self.stages + 1)

    @property
    def error_offset(self) -> int:
        """[any-thread] Offset of the last-error area (UTF-8 text, NUL padded)."""
        return self.state_offset + STATE_HEADER.size + STATE_CAPACITY

    @property
    def end(self) -> int:
        """[any-thread] First byte after this region, rounded up to a cache line."""
        return -(-(self.error_offset + ERROR_AREA) // 64) * 64


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each instance's region starts; shared by host and worker."""

    regions: tuple[Region, ...]

    @classmethod
    def of(cls, max_block: int, shapes: Sequence[tuple[int, int]]) -> Layout:
        """[any-thread] The layout for instances of ``(channels, stages)``, in order."""
        regions: list[Region] = []
        base = HEADER_BYTES
        for channels, stages in shapes:
            regions.append(Region(int(channels), int(max_block), int(stages), base))
            base = regions[-1].end
        return cls(tuple(regions))

    @property
    def size(self) -> int:
        """[any-thread] Total segment size."""
        return self.regions[-1].end if self.regions else HEADER_BYTES


def segment_name() -> str:
    """[any-thread] A fresh, recognisable segment name owned by this process."""
    return f"{SEGMENT_PREFIX}{os.getpid()}-{next(_counter)}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale_segments(directory: Path = SHM_DIR) -> list[str]:
    """[main-thread] Unlink ``aers-<pid>-...`` segments whose host process is gone.

    Why: a host killed with ``kill -9`` cannot clean up; the next run does it for it.

    Returns:
        The names removed.
    """
    removed: list[str] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _SEGMENT_RE.match(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        try:
            entry.unlink()
        except OSError:
            continue
        removed.append(entry.name)
    return removed


def write_all(fd: int, data: bytes) -> None:
    """[any-thread] Write every byte of ``data`` to a blocking descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send_blob(fd: int, obj: Any) -> None:
    """[any-thread] Send one JSON document, length-prefixed."""
    payload = json.dumps(obj, allow_nan=False).encode()
    write_all(fd, BLOB_HEADER.pack(len(payload)) + payload)


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    """[any-thread] Read exactly ``size`` bytes, waiting at most until ``deadline`` if given.

    Raises:
        EOFError: the other side closed the pipe.
        TimeoutError: ``deadline`` passed first.
    """
    chunks = bytearray()
    while len(chunks) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError(f"no reply within the time allowed ({size} bytes expected)")
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks += chunk
    return bytes(chunks)


def recv_blob(fd: int, deadline: float | None = None, limit: int = MAX_BLOB) -> Any:
    """[any-thread] Receive one JSON document sent by :func:`send_blob`.

    Raises:
        EOFError, TimeoutError: as :func:`read_exact`.
        ValueError: the blob is larger than ``limit`` or not JSON.
    """
    (size,) = BLOB_HEADER.unpack(read_exact(fd, BLOB_HEADER.size, deadline))
    if size > limit:
        raise ValueError(f"message of {size} bytes exceeds the {limit}-byte limit")
    return parse_json(read_exact(fd, size, deadline))


def parse_json(data: bytes) -> Any:
    """[any-thread] Parse untrusted JSON; nesting too deep for the parser is a ValueError.

    Raises:
        ValueError: not JSON, or nested deeper than the interpreter's recursion limit.
    """
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def read_text(buf: memoryview, offset: int, size: int) -> str:
    """[any-thread] Decode NUL-padded UTF-8 from the worker (untrusted: errors replaced)."""
    return bytes(buf[offset : offset + size]).split(b"\0", 1)[0].decode("utf-8", "replace")
