"""CPU accounting without psutil: this process via ``time``, workers via ``/proc/<pid>/stat``.

A worker's CPU share is (utime + stime) ticks spent between two snapshots divided by the
wall time between them. Workers that died or restarted between snapshots count what was
measurable; on systems without ``/proc`` worker figures are simply absent.

Example:
    >>> clock = CpuClock(); clock.start(); _ = sum(range(1000)); clock.stop()
    >>> clock.process_percent() >= 0.0
    True
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._features import worker_pid


def proc_cpu_seconds(pid: int) -> float | None:
    """Utime + stime of ``pid`` in seconds, from ``/proc/<pid>/stat``; None if unreadable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    try:
        ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class CpuClock:
    """Wall and CPU time between :meth:`start` and :meth:`stop`, for us and our workers."""

    wall0: float = 0.0
    cpu0: float = 0.0
    wall: float = 0.0
    cpu: float = 0.0
    workers0: dict[str, tuple[int, float]] = field(default_factory=dict)
    workers: dict[str, float] = field(default_factory=dict)

    def start(self, processors: Mapping[str, object] | None = None) -> None:
        """Take the first snapshot (call right before the block loop)."""
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.workers0 = {}
        for node_id, proc in (processors or {}).items():
            pid = worker_pid(proc)
            seconds = proc_cpu_seconds(pid) if pid is not None else None
            if pid is not None and seconds is not None:
                self.workers0[node_id] = (pid, seconds)

    def stop(self, processors: Mapping[str, object] | None = None) -> None:
        """Take the second snapshot (call before closing the processors' workers)."""
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        self.workers = {}
        for node_id, (pid0, seconds0) in self.workers0.items():
            pid = worker_pid((processors or {}).get(node_id)) or pid0
            seconds = proc_cpu_seconds(pid)
            if seconds is not None:
                self.workers[node_id] = seconds - seconds0 if pid == pid0 else seconds

    def process_percent(self) -> float:
        """CPU of this process (all threads) as a percentage of one core over the wall time."""
        return 100.0 * self.cpu / self.wall if self.wall > 0 else 0.0

    def worker_percent(self) -> dict[str, float]:
        """Per-node worker CPU, percent of one core over the same wall time."""
        return {k: 100.0 * v / self.wall if self.wall > 0 else 0.0 for k, v in self.workers.items()}
