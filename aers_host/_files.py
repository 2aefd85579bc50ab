"""Reading a file a user names without letting it exhaust memory.

``stat`` alone cannot bound a read: ``/dev/zero`` and pipes report size 0, and a file may
grow between the look and the read. So a file over the limit is refused from ``stat``,
unread, and the read itself stops one byte past the limit.
"""

from __future__ import annotations

from pathlib import Path


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
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(None)
    return data
