"""Lifecycle: no worker or shared-memory segment outlives its host, however it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from signal_masks import DEFAULT_SIGINT, TERMINAL, blocked_signals

from aers_host.sandbox import cleanup_stale_segments

from ._helpers import PASS, shm_segments_of

ROOT = Path(__file__).resolve().parents[2]
HOST = """
import faulthandler, json, signal, sys, time
from pathlib import Path
faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test's view into a hang
sys.path.insert(0, sys.argv[1])
from aers_host._nodetype import CheckContext
from aers_host.plugins._verified import VerifiedPlugin
from aers_host.sandbox import load_python_plugin
src = b"class P:\\n    def process(self, inp, out, start, events):\\n        out[:] = inp\\n"
plugin = VerifiedPlugin("t", "1", "python", "p.py:P", "sandbox", {"p.py": src})
proc = load_python_plugin(plugin, {}, CheckContext(48000, 256, Path(".")))
proc.prepare(48000, 256, 2)
print(json.dumps({"worker": proc.worker_pid, "segment": proc.link.segment.name}), flush=True)
if sys.argv[2] == "exit":
    sys.exit(0)
for _ in range(1200):  # like an engine, wake often: a signal the kernel gave to numpy's
    time.sleep(0.05)   # BLAS thread is only seen when Python runs (see aers_host._threads)
"""


def start_host(mode: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    host = subprocess.Popen(
        [*DEFAULT_SIGINT, sys.executable, "-c", HOST, str(ROOT), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert host.stdout is not None
    return host, json.loads(host.stdout.readline())


def finished(host: subprocess.Popen[str], timeout: float = 30.0) -> int:
    """The host's exit status once it ends; a host still running after ``timeout`` fails
    the test with every thread's stack (and is killed, so nothing outlives the test)."""
    try:
        host.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        host.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        host.kill()
        _, err = host.communicate()
        pytest.fail(f"the host still ran {timeout} s later; its threads:\n{err[-6000:]}")
    return host.returncode


def gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_kill_9_of_the_host_kills_its_worker_and_cleanup_removes_segments() -> None:
    host, info = start_host("sleep")
    assert not gone(int(info["worker"]), 0.1)
    host.send_signal(signal.SIGKILL)
    finished(host)
    assert gone(int(info["worker"]))  # PR_SET_PDEATHSIG
    cleanup_stale_segments()
    assert shm_segments_of(host.pid) == []
    assert not (Path("/dev/shm") / str(info["segment"])).exists()


def test_ctrl_c_stops_workers_and_frees_segments() -> None:
    host, info = start_host("sleep")
    host.send_signal(signal.SIGINT)
    assert finished(host) != 0  # interrupted
    assert gone(int(info["worker"]))
    assert shm_segments_of(host.pid) == []


def test_normal_exit_without_close_cleans_up_at_exit() -> None:
    host, info = start_host("exit")
    assert finished(host) == 0
    assert gone(int(info["worker"]))
    assert shm_segments_of(host.pid) == []


def test_cleanup_removes_only_segments_of_dead_hosts(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"aers-{dead.pid}-1-abcd1234"
    mine = tmp_path / f"aers-{os.getpid()}-1-abcd1234"
    foreign = tmp_path / "psm_other"
    for path in (stale, mine, foreign):
        path.write_bytes(b"x")
    assert cleanup_stale_segments(tmp_path) == [stale.name]
    assert mine.exists() and foreign.exists() and not stale.exists()


@pytest.mark.parametrize("first", [True])
def test_first_worker_of_a_process_runs_the_cleanup(
    first: bool, prepared: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aers_host.sandbox import _host

    calls: list[int] = []
    monkeypatch.setattr(_host, "_cleaned_up", False)
    monkeypatch.setattr(_host.proto, "cleanup_stale_segments", lambda: calls.append(1) or [])
    prepared("class P:\n    def process(self, inp, out, start, events):\n        out[:] = inp\n")  # type: ignore[operator]
    prepared("class P:\n    def process(self, inp, out, start, events):\n        out[:] = inp\n")  # type: ignore[operator]
    assert calls == [1]


def test_supervisor_threads_leave_terminal_signals_to_the_main_thread() -> None:
    from aers_host.sandbox._spawn import supervisor

    blocked = supervisor().submit(signal.pthread_sigmask, signal.SIG_BLOCK, ()).result(10)
    assert set(blocked) >= TERMINAL


def test_workers_start_with_no_signal_blocked(prepared: object) -> None:
    # Forked from a supervisor thread, a worker must not keep that thread's mask.
    proc = prepared(PASS)  # type: ignore[operator]
    assert blocked_signals(Path(f"/proc/{proc._worker.pid}/status")) == set()
