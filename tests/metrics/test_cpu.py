"""CPU accounting from /proc: this process and a busy worker subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

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
    """A processor whose code runs in worker ``pid`` (it implements ``RunsInWorker``)."""

    def __init__(self, pid: int) -> None:
        self.worker_pid = pid


def test_busy_worker_shows_cpu() -> None:
    """The clock sees the worker's CPU seconds, checked against the kernel's rusage.

    The worker spins for a fixed amount of CPU time between two handshakes, so a loaded
    machine stretches the wall time but not what is measured.
    """
    spin = (
        "import sys, time\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"
        "print('done', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", spin], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        procs = {"fx": Worker(child.pid), "plain": object()}
        clock = CpuClock()
        clock.start(procs)
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"  # we sleep on the pipe while it spins
        clock.stop(procs)
        child.stdin.write("bye\n")
        child.stdin.close()
    finally:
        child.stdout.close()
        if not child.stdin.closed:
            child.stdin.close()
        _, _, usage = os.wait4(child.pid, 0)  # the kernel's account of the whole worker
        child.returncode = 0
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    assert set(clock.workers) == {"fx"}
    assert 0.3 - 3 * tick <= clock.workers["fx"] <= usage.ru_utime + usage.ru_stime + tick
    assert clock.worker_percent()["fx"] == pytest.approx(100.0 * clock.workers["fx"] / clock.wall)
    assert clock.cpu < clock.workers["fx"] / 2  # we mostly slept
