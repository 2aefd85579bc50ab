"""The hostile suite: each refusal is contained, creates no file, opens no connection, and
the run goes on with the other nodes unaffected."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ._helpers import BLOCK, FAST, Neighbour, listing, process_body, signal_block, writing

pytestmark = pytest.mark.security
TMP = Path("/tmp")
SLOW_OK = 500.0


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 that a plugin might try to reach."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.05)
    yield server
    server.close()


def run_beside_neighbour(
    proc: Any, blocks: int, pause: float = 0.0, deadline_ms: float = FAST["deadline_ms"]
) -> list[float]:
    """Process hostile + neighbour blocks; check the neighbour; return per-block times."""
    neighbour = Neighbour()
    limit = deadline_ms / 1000.0 + 0.25
    times = []
    for i in range(blocks):
        inp = signal_block(i * BLOCK)
        out = np.full_like(inp, -7.0)
        began = time.perf_counter()
        proc.process(inp, out, i * BLOCK, ())
        times.append(time.perf_counter() - began)
        assert times[-1] < limit, f"block {i} stalled for {times[-1]:.3f} s"
        assert np.all(np.isfinite(out)) and not np.any(out == -7.0)
        mine = np.empty_like(inp)
        neighbour.process(inp, mine)
        np.testing.assert_allclose(mine, inp * 0.5)
        time.sleep(pause)
    assert neighbour.blocks == blocks
    return times


def assert_no_trace(before: set[str], cwd: Path, server: socket.socket) -> None:
    assert listing(cwd) == set(), listing(cwd)
    assert list(TMP.glob("aers-evil*")) == []
    assert before == listing(cwd)
    with pytest.raises(OSError):  # TimeoutError: nobody connected
        server.accept()


RUNTIME_REFUSALS = {
    "import_os": "import os\nos.system('touch aers-evil')",
    "import_sys": "import sys\nsys.exit(1)",
    "import_subprocess": "import subprocess\nsubprocess.run(['touch', '/tmp/aers-evil'])",
    "import_socket": "import socket",
    "import_ctypes": "import ctypes\nctypes.CDLL(None).system(b'touch /tmp/aers-evil')",
    "import_importlib": "import importlib\nimportlib.import_module('os')",
    "open": "open('/tmp/aers-evil-open', 'w').write('x')",
    "np_save": "np.save('/tmp/aers-evil-save', inp)",
    "np_load": "np.load('/tmp/aers-evil.npy', allow_pickle=True)",
    "ndarray_tofile": "inp.tofile('/tmp/aers-evil-tofile')",
    "np_memmap": "np.memmap('/tmp/aers-evil-memmap', mode='w+', shape=(4,))",
    "np_lib": "np.lib.format.open_memmap('/tmp/aers-evil-lib', mode='w+', shape=(4,))",
    "np_ctypeslib": "np.ctypeslib.as_array(inp)",
    "allocate_10gb": "x = np.ones(10 * 1024 ** 3 // 4, dtype=np.float32)",
    "raise": "raise RuntimeError('hostile')",
    "write_past_output": "out[0, out.shape[1] + 5] = 1.0",
    "write_past_output_flat": "out.reshape(-1)[out.size + 1] = 1.0",
    "exit": "exit()",
    "quit_via_systemexit": "raise SystemExit(0)",
}


@pytest.mark.parametrize("body", RUNTIME_REFUSALS.values(), ids=RUNTIME_REFUSALS.keys())
def test_runtime_refusal_is_contained(
    body: str, prepared: Any, sandbox_cwd: Path, listener: socket.socket
) -> None:
    before = listing(sandbox_cwd)
    # A generous deadline: these refusals are about containment, not timing (a loaded CI
    # machine must not turn an error into an xrun).
    proc = prepared(process_body(body), max_failures=100, deadline_ms=SLOW_OK)
    run_beside_neighbour(proc, 5, deadline_ms=SLOW_OK)
    assert proc.errors == 5 and not proc.failed
    assert "Error" in proc.failure_reason or "Exit" in proc.failure_reason
    assert proc._worker is not None  # the worker itself survived
    assert_no_trace(before, sandbox_cwd, listener)


def test_socket_to_localhost_is_refused(
    prepared: Any, sandbox_cwd: Path, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    body = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}))\ns.send(b'x')"
    proc = prepared(process_body(body), max_failures=100, deadline_ms=SLOW_OK)
    run_beside_neighbour(proc, 3, deadline_ms=SLOW_OK)
    assert proc.errors == 3
    assert_no_trace(set(), sandbox_cwd, listener)


COMPILE_REFUSALS = {
    "dunder_import": "__import__('os')",
    "class_mro_walk": "x = ().__class__.__mro__[1].__subclasses__()",
    "subclasses": "x = object.__subclasses__()",
    "gi_frame": "g = (i for i in [1])\nx = g.gi_frame.f_back",
    "f_globals": "def f():\n    pass\nx = f.f_globals",
    "globals_dict": "x = f.__globals__",
    "exec_statement_name": "x = __builtins__",
    "eval": "eval('1 + 1')",
    "exec": "exec('x = 1')",
}


@pytest.mark.parametrize("body", COMPILE_REFUSALS.values(), ids=COMPILE_REFUSALS.keys())
def test_compile_refusal_at_load(
    body: str, prepared: Any, sandbox_cwd: Path, listener: socket.socket
) -> None:
    proc = prepared(process_body(body))  # refused in the host: a failed node, not an error
    assert proc.failed and "refused by the sandbox compiler" in proc.failure_reason
    run_beside_neighbour(proc, 3)
    assert proc.fallback_blocks == 3
    assert_no_trace(set(), sandbox_cwd, listener)


def test_module_level_import_os_refused_at_prepare_and_nothing_runs(
    prepared: Any, sandbox_cwd: Path, listener: socket.socket
) -> None:
    proc = prepared("import os\nos.system('touch aers-evil')\nclass P:\n    pass\n")
    assert proc.failed and "only math and numpy" in proc.failure_reason
    run_beside_neighbour(proc, 3)
    assert_no_trace(set(), sandbox_cwd, listener)


def test_infinite_loop_is_killed_and_the_run_continues(prepared: Any, sandbox_cwd: Path) -> None:
    proc = prepared(process_body("while True:\n    pass"), max_failures=2, failure_window_s=60.0)
    deadline = time.monotonic() + 10
    while not proc.failed and time.monotonic() < deadline:
        run_beside_neighbour(proc, 1, pause=0.02)
    assert proc.failed and "hung" in proc.failure_reason
    assert proc.xruns >= 2
    run_beside_neighbour(proc, 3)  # failed node: fallback, instantly


def test_sleeping_past_the_deadline_is_an_xrun_not_a_stall(
    prepared: Any, sandbox_cwd: Path
) -> None:
    burn = "x = 0\nfor i in range(3000000):\n    x = x + 1"
    proc = prepared(process_body(burn), hang_timeout_ms=30000.0, deadline_ms=10.0)
    times = run_beside_neighbour(proc, 4, pause=0.01, deadline_ms=10.0)
    assert proc.xruns >= 3
    assert max(times) < 0.010 + 0.05


def test_nan_output_is_replaced_by_the_fallback(prepared: Any) -> None:
    proc = prepared(writing("np.nan"))
    run_beside_neighbour(proc, 4)
    assert proc.nan_blocks == 4 and proc.errors == 0


def test_allocating_10gb_does_not_grow_the_worker(prepared: Any) -> None:
    proc = prepared(
        process_body("x = np.ones(10 * 1024 ** 3 // 4, dtype=np.float32)"), max_failures=100
    )
    run_beside_neighbour(proc, 2)
    status = Path(f"/proc/{proc._worker.pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    assert rss_kib < 1 << 20  # under 1 GiB
    assert "MemoryError" in proc.failure_reason
