"""In-process isolation: same RestrictedPython rules, no OS fences, same containment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aers_host import ParamEvent, Processor
from aers_host.sandbox import InProcessProcessor, RefusedProcessor

from ._helpers import BLOCK, GAIN, GAIN_SPEC, make, process_body, run, signal_block


def test_in_process_runs_the_plugin(prepared: Any) -> None:
    proc = prepared(GAIN, isolation="in-process", specs=GAIN_SPEC)
    assert isinstance(proc, InProcessProcessor) and isinstance(proc, Processor)
    inp = np.ones((2, BLOCK), np.float32)
    out = np.zeros_like(inp)
    proc.process(inp, out, 0, (ParamEvent(10, "gain", 1.5),))
    assert np.all(out[:, :10] == 0.5) and np.all(out[:, 10:] == 1.5)
    assert proc.get_state()["params"]["gain"] == 1.5


@pytest.mark.security
@pytest.mark.parametrize("body", ["import os", "open('x', 'w')", "np.save('x', inp)", "exit()"])
def test_same_restrictions_in_process(body: str, prepared: Any) -> None:
    proc = prepared(process_body(body), isolation="in-process", max_failures=2)
    outs = run(proc, 3)
    assert proc.errors == 2 and proc.failed
    np.testing.assert_array_equal(outs[2], signal_block(2 * BLOCK))


@pytest.mark.security
def test_writing_into_its_input_corrupts_nothing_outside_the_plugin(prepared: Any) -> None:
    # The engine passes an upstream node's buffer straight through when a node reads it
    # alone; other nodes (a tap, a send) read that same buffer afterwards.
    proc = prepared(process_body("inp[...] = 0.0"), isolation="in-process")
    shared = signal_block(0)
    before = shared.copy()
    out = np.full_like(shared, -7.0)
    proc.process(shared, out, 0, ())
    np.testing.assert_array_equal(shared, before)
    assert np.all(out == 0.0)  # the plugin saw its own (zeroed) copy


@pytest.mark.security
def test_a_failing_plugin_falls_back_to_the_untouched_input(prepared: Any) -> None:
    proc = prepared(process_body("inp[...] = 9.0\nraise ValueError('late')"), isolation="in-process")
    outs = run(proc, 1)
    np.testing.assert_array_equal(outs[0], signal_block(0))  # bypass of the real input


@pytest.mark.security
def test_compile_refusal_in_process() -> None:
    proc = make(process_body("x = ().__class__"), isolation="in-process")
    assert isinstance(proc, RefusedProcessor)
    assert proc.failed and "refused by the sandbox compiler" in proc.failure_reason


def test_nan_and_slow_blocks_are_counted(prepared: Any) -> None:
    body = "for i in range(20000):\n    x = i\nout[:] = np.nan\nreturn"
    proc = prepared(process_body(body), isolation="in-process", deadline_ms=0.01)
    run(proc, 2)
    assert proc.nan_blocks == 2 and proc.xruns == 2


def test_prepare_failure_marks_the_node_failed() -> None:
    proc = make(
        "class P:\n    def prepare(self, a, b, c):\n        raise ValueError('no')\n",
        isolation="in-process",
    )
    proc.prepare(48_000, BLOCK, 2)
    assert proc.failed and "ValueError" in proc.failure_reason
    proc.close()
    proc.close()
