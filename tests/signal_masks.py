"""Signals in tests: what a thread blocks (from the kernel's record), and children that
take Ctrl-C whatever the test runner inherited."""

from __future__ import annotations

import signal
import sys
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


#: Prefix of a command that runs it with SIGINT at its default disposition, as a terminal
#: would: a test runner started as a background job (``pytest &`` in a script) passes
#: SIGINT down *ignored*, and Python keeps an inherited ignore, so Ctrl-C tests would
#: test the launcher instead of AERS.
DEFAULT_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]
