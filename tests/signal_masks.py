"""Reading which signals a thread or process blocks, from the kernel's own record."""

from __future__ import annotations

import signal
from pathlib import Path

TERMINAL = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def blocked_signals(status: Path) -> set[int]:
    """The signals blocked per ``status`` (``/proc/PID/status`` or ``/proc/PID/task/TID/...``)."""
    for line in status.read_text().splitlines():
        if line.startswith("SigBlk:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    raise AssertionError(f"no SigBlk line in {status}")


def thread_blocks(native_id: int | None) -> set[int]:
    """The signals a thread of this process blocks."""
    assert native_id is not None, "thread not started"
    return blocked_signals(Path(f"/proc/self/task/{native_id}/status"))
