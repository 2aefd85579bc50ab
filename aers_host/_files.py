"""Reading a file a user names without letting it exhaust memory.

``stat`` alone cannot bound a read: ``/dev/zero`` and pipes report size 0, and a file may
grow between the look and the read. So a file over the limit is refused from ``stat``,
unread, and the read itself stops one byte past the limit.
"""

from __future__ import annotations

from pathlib import Path

#: Smallest read, so a file that lied about its size (a pipe, /proc) is read in few calls.
_MIN_READ = 64 * 1024


class TooLarge(Exception):
    """The file holds more than the limit; ``size`` is its size when ``stat`` knew it."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def read_bounded(path: Path, limit: int) -> bytes:
    """Every byte of ``path``, which must hold at most ``limit`` of them.

    Raises:
        TooLarge: the file holds more.
        OSError: it cannot be opened or read.
    """
    size = path.stat().st_size
    if size > limit:
        raise TooLarge(size)
    chunks: list[bytes] = []
    total = 0
    with path.open("rb") as handle:
        # read(n) allocates n bytes before it reads: ask for what stat promised (plus one,
        # to see growth), then double, never past limit + 1. A 1 KiB file under a 256 MiB
        # limit costs 1 KiB, not 256 MiB.
        want = size + 1
        while chunk := handle.read(min(max(want, _MIN_READ), limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise TooLarge(None)
            want = total
    return b"".join(chunks)
