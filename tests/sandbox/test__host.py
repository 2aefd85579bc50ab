"""SandboxedProcessor: audio path, deadlines, recovery, failure window, state, chains."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host import ParamEvent, Processor
from aers_host._nodetype import CheckContext
from aers_host.errors import PluginValidationError
from aers_host.sandbox import RefusedProcessor, SandboxedProcessor, load_python_chain

from ._helpers import (
    BLOCK,
    GAIN,
    GAIN_SPEC,
    RATE,
    make,
    plugin,
    process_body,
    run,
    shm_segments_of,
    signal_block,
    writing,
)

COUNTER = """
import numpy as np
class P:
    latency_samples = 64
    def prepare(self, sample_rate, max_block, channels):
        self.n = 0
    def process(self, inp, out, start, events):
        self.n = self.n + 1
        out[:] = inp
    def get_state(self):
        return {"n": self.n}
    def set_state(self, state):
        self.n = state["n"]
"""
#: Writes its block's start sample; slow (far past a 10 ms deadline) on block 2.
STAMP = f"""
import numpy as np
class P:
    def process(self, inp, out, start, events):
        if start == 2 * {BLOCK}:
            x = 0
            for i in range(3000000):
                x = x + 1
        out[:] = float(start)
"""


def wait_for_restart(proc: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.restarts == 0 and time.monotonic() < deadline:
        run(proc, 1)
        time.sleep(0.01)
    assert proc.restarts >= 1, proc.failure_reason


def test_is_a_processor_and_passes_audio(prepared: Any) -> None:
    proc = prepared(GAIN, specs=GAIN_SPEC)
    assert isinstance(proc, Processor) and isinstance(proc, SandboxedProcessor)
    out = run(proc, 3)
    np.testing.assert_allclose(out[2], signal_block(2 * BLOCK) * 0.5)
    assert proc.xruns == proc.nan_blocks == proc.restarts == 0 and not proc.failed


def test_odd_block_sizes_and_mono(prepared: Any) -> None:
    proc = prepared(GAIN, channels=1, specs=GAIN_SPEC)
    for frames in (1, 7, BLOCK):
        inp = np.ones((1, frames), np.float32)
        out = np.zeros_like(inp)
        proc.process(inp, out, 0, ())
        np.testing.assert_allclose(out, 0.5)


def test_events_split_the_block_sample_accurately(prepared: Any) -> None:
    proc = prepared(GAIN, specs=GAIN_SPEC)
    inp = np.ones((2, BLOCK), np.float32)
    out = np.zeros_like(inp)
    proc.process(inp, out, 0, (ParamEvent(100, "gain", 2.0), ParamEvent(5, "nope", 1.0)))
    assert np.all(out[:, :100] == 0.5) and np.all(out[:, 100:] == 2.0)
    proc.process(inp, out, BLOCK, (ParamEvent(0, "gain", 9.0),))  # clamped to the range
    assert np.all(out == 2.0)


def test_late_block_is_an_xrun_and_the_late_reply_never_lands_in_a_later_block(
    prepared: Any,
) -> None:
    """Blocks go on at the deadline while the worker is busy, however loaded the machine.

    Compared within the run, not with fixed times: blocks are processed until the worker
    has caught up with its slow block (a busy machine only makes that take longer), and no
    call may take more than a fraction of the time the worker was busy, which a call that
    waited for the late reply would.
    """
    proc = prepared(STAMP, deadline_ms=10.0, hang_timeout_ms=60_000.0)
    stamps, took, began_at = [], [], []
    caught_up_at = None
    give_up = time.monotonic() + 120.0
    i = 0
    while caught_up_at is None or i < caught_up_at + 3:
        assert time.monotonic() < give_up, "the worker never caught up with its slow block"
        inp = signal_block(i * BLOCK)
        out = np.zeros_like(inp)
        began = time.perf_counter()
        proc.process(inp, out, i * BLOCK, ())
        took.append(time.perf_counter() - began)
        began_at.append(began)
        stamps.append((i, out.copy(), inp))
        if caught_up_at is None and i > 2 and np.all(out == float(i * BLOCK)):
            caught_up_at = i
        time.sleep(0.005)
        i += 1
    assert proc.xruns >= 1
    for j, out, inp in stamps:
        # Either this block's own answer or the fallback (bypass = its input), nothing else.
        assert np.all(out == float(j * BLOCK)) or np.array_equal(out, inp), j
    assert np.array_equal(stamps[2][1], stamps[2][2])  # the slow block itself fell back
    busy = began_at[caught_up_at] - began_at[2]  # the worker's slow block, as seen here
    assert max(took) < busy / 3  # never stalls on the slow worker
    assert all(np.all(out == float(j * BLOCK)) for j, out, _ in stamps[caught_up_at:])


def test_crashed_worker_restarts_with_last_good_state(prepared: Any) -> None:
    proc = prepared(COUNTER, state_every_s=0.01)
    for _ in range(10):
        run(proc, 1)
        time.sleep(0.005)
    time.sleep(0.05)
    run(proc, 1)
    os.kill(proc._worker.pid, signal.SIGKILL)
    wait_for_restart(proc)
    assert proc.get_state()["plugin"]["n"] >= 10  # resumed from the snapshot, not from 0


def test_restart_does_not_stall_the_block_loop(prepared: Any) -> None:
    proc = prepared(COUNTER)
    os.kill(proc._worker.pid, signal.SIGKILL)
    time.sleep(0.05)
    worst = 0.0
    for i in range(30):
        began = time.perf_counter()
        out = run(proc, 1, first=i)[0]
        worst = max(worst, time.perf_counter() - began)
        np.testing.assert_array_equal(out, signal_block(i * BLOCK))  # bypass while restarting
    assert worst < 0.1


def test_cpu_rlimit_kills_a_spinning_worker_which_is_restarted(prepared: Any) -> None:
    proc = prepared(
        process_body("while True:\n    pass"),
        cpu_seconds=1,
        hang_timeout_ms=60000.0,
        max_failures=10,
    )
    deadline = time.monotonic() + 15
    while proc.restarts == 0 and time.monotonic() < deadline:
        run(proc, 1)
        time.sleep(0.05)
    assert proc.restarts >= 1 and "died" in proc.failure_reason


def test_failures_in_window_mark_the_node_failed(prepared: Any) -> None:
    proc = prepared(process_body("raise ValueError('boom')"), max_failures=3)
    outs = run(proc, 6)
    assert proc.failed and "ValueError: boom" in proc.failure_reason
    assert proc.errors == 3
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out, signal_block(i * BLOCK))


def test_failed_node_retires_its_worker(prepared: Any) -> None:
    proc = prepared(process_body("raise ValueError('boom')"), max_failures=1)
    pid = proc._worker.pid
    run(proc, 2)
    assert proc.failed and proc._worker is None
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_silence_fallback(prepared: Any) -> None:
    proc = prepared(process_body("raise ValueError('x')"), fallback="silence")
    assert np.all(run(proc, 1)[0] == 0.0)


def test_nan_output_replaced_and_counted(prepared: Any) -> None:
    proc = prepared(writing("np.inf"))
    out = run(proc, 2)
    assert proc.nan_blocks == 2 and np.all(np.isfinite(out[1]))


def test_state_roundtrip_and_set_before_prepare() -> None:
    proc = make(COUNTER)
    proc.set_state({"params": {}, "plugin": {"n": 41}})
    proc.prepare(RATE, BLOCK, 2)
    try:
        run(proc, 1)
        assert proc.get_state()["plugin"]["n"] == 42
        proc.reset()
        proc.set_state({"params": {}, "plugin": {"n": 5}})
        assert proc.get_state()["plugin"]["n"] == 5
        assert proc.latency_samples == 64
    finally:
        proc.close()


def test_close_twice_and_process_after_close_is_fallback() -> None:
    proc = make(GAIN)
    proc.prepare(RATE, BLOCK, 2)
    proc.close()
    proc.close()
    out = run(proc, 1)[0]
    np.testing.assert_array_equal(out, signal_block(0))
    assert shm_segments_of(os.getpid()) == []


def test_module_level_refusal_fails_the_node_cleanly_at_prepare() -> None:
    proc = make("import os\nclass P:\n    pass\n")
    proc.prepare(RATE, BLOCK, 2)  # the worker refuses: the node fails, prepare does not
    assert proc.failed and "ImportError" in proc.failure_reason
    assert proc._worker is None and shm_segments_of(os.getpid()) == []
    proc.close()
    assert shm_segments_of(os.getpid()) == []


def test_compile_refusal_happens_at_load_in_the_host() -> None:
    proc = make("class P:\n    x = ().__class__\n")
    assert isinstance(proc, RefusedProcessor)  # no worker was ever involved
    assert proc.failed and "refused by the sandbox compiler" in proc.failure_reason


@pytest.mark.parametrize("options", [{"fallback": "loud"}, {"deadline_ms": -1}, {"isolation": "vm"},
                                     {"max_failures": True}])  # fmt: skip
def test_bad_node_options_refused(options: dict[str, Any]) -> None:
    with pytest.raises(PluginValidationError):
        make(GAIN, **options)


def test_default_deadline_is_half_the_block_period() -> None:
    ctx = CheckContext(RATE, 512, Path("."))
    from aers_host.sandbox import load_python_plugin

    proc = load_python_plugin(plugin(GAIN), {}, ctx)
    assert proc.options.deadline_s == pytest.approx(0.5 * 512 / RATE)  # type: ignore[attr-defined]


def test_chain_in_one_worker() -> None:
    ctx = CheckContext(RATE, BLOCK, Path("."), node_options={"deadline_ms": 50.0})
    chain = load_python_chain([(plugin(GAIN, GAIN_SPEC), {}) for _ in range(3)], ctx)
    chain.prepare(RATE, BLOCK, 2)
    try:
        inp = np.ones((2, BLOCK), np.float32)
        out = np.zeros_like(inp)
        chain.process(inp, out, 0, (ParamEvent(0, "1:gain", 2.0),))
        np.testing.assert_allclose(out, 0.5 * 2.0 * 0.5)
        assert len(chain.get_state()["stages"]) == 3
    finally:
        chain.close()


def test_chain_refuses_mixed_trust_domains() -> None:
    ctx = CheckContext(RATE, BLOCK, Path("."))
    other = plugin(GAIN)
    other = type(other)(**{**{f: getattr(other, f) for f in other.__slots__}, "keyid": "k2"})  # type: ignore[attr-defined]
    with pytest.raises(PluginValidationError, match="one signing key"):
        load_python_chain([(plugin(GAIN), {}), (other, {})], ctx)


def test_missing_fence_warns_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from aers_host.errors import SandboxDegradedWarning
    from aers_host.sandbox import _host

    real_start = _host.WorkerProcess.start

    def degraded(*args: Any, **kwargs: Any) -> Any:
        worker = real_start(*args, **kwargs)
        worker.hello["fences"]["landlock"] = "unavailable: test"
        return worker

    monkeypatch.setattr(_host.WorkerProcess, "start", degraded)
    proc = make(GAIN, specs=GAIN_SPEC)
    try:
        with pytest.warns(SandboxDegradedWarning, match="landlock"):
            proc.prepare(RATE, BLOCK, 2)
    finally:
        proc.close()


def test_manifest_isolation_is_the_default_and_node_option_overrides_it() -> None:
    from aers_host.sandbox import InProcessProcessor, load_python_plugin

    trusted = plugin(GAIN, GAIN_SPEC)
    trusted = type(trusted)(
        **{**{f: getattr(trusted, f) for f in trusted.__slots__}, "isolation": "in-process"}  # type: ignore[attr-defined]
    )
    ctx = CheckContext(RATE, BLOCK, Path("."))
    assert isinstance(load_python_plugin(trusted, {}, ctx), InProcessProcessor)
    forced = CheckContext(RATE, BLOCK, Path("."), node_options={"isolation": "sandbox"})
    assert isinstance(load_python_plugin(trusted, {}, forced), SandboxedProcessor)
