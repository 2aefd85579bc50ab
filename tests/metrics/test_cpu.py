"""CPU accounting from /proc: this process and a busy worker subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from aers_host.metrics import CpuClock, proc_cpu_seconds

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def test_own_cpu_seconds_are_readable() -> None:
    before = proc_cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    after = proc_cpu_seconds(os.getpid())
    assert before is not None and after is not None and after >= before


def test_missing_pid_reads_none() -> None:
    assert proc_cpu_seconds(2**22 + 12345) is None


class Worker:
    def __init__(self, pid: int) -> None:
        self.pid = pid


def test_busy_worker_shows_cpu() -> None:
    spin = "import time\nt=time.time()\nwhile time.time()-t<5: pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin])
    try:
        procs = {"fx": Worker(child.pid), "plain": object()}
        clock = CpuClock()
        clock.start(procs)
        time.sleep(0.4)
        clock.stop(procs)
    finally:
        child.kill()
        child.wait()
    workers = clock.worker_percent()
    assert set(workers) == {"fx"}
    assert workers["fx"] > 30.0  # a spinning worker burns most of a core
    assert clock.process_percent() < 50.0  # we mostly slept
