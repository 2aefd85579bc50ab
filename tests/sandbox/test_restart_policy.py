"""Restarts converge: failures of a fresh worker count toward max_failures, then spawning stops."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from ._graphs import worker_pids
from ._helpers import run, signal_block

#: Hangs in ``process`` from block 3 on, and in ``set_state`` always: every restart (which
#: restores the last snapshot) hangs while starting.
HANGS_EVERYWHERE = """
import numpy as np
class P:
    def prepare(self, sample_rate, max_block, channels):
        self.n = 0
    def process(self, inp, out, start, events):
        self.n = self.n + 1
        while start >= 3 * 256:
            pass
        out[:] = inp
    def get_state(self):
        return {"n": self.n}
    def set_state(self, state):
        while True:
            pass
"""


@pytest.mark.slow
def test_a_worker_that_hangs_on_every_restart_fails_the_node_after_max_failures(
    prepared: Any,
) -> None:
    before = worker_pids()
    proc = prepared(
        HANGS_EVERYWHERE,
        max_failures=3,
        failure_window_s=0.0,  # only the fresh-worker rule can fail the node
        hang_timeout_ms=200.0,
        start_timeout_s=2.0,  # a worker starts in ~0.5 s; one hanging in set_state never
        state_every_s=0.001,
    )
    run(proc, 3)
    deadline = time.monotonic() + 30
    block = 3
    while not proc.failed and time.monotonic() < deadline:
        run(proc, 1, first=block)
        block += 1
        time.sleep(0.05)
    assert proc.failed, proc.failure_reason
    assert "restart failed" in proc.failure_reason and "did not start" in proc.failure_reason
    # one lost worker, then max_failures fresh ones that never came up: each is a restart
    assert proc.restarts == 3 == proc.window.count - 1
    time.sleep(1.0)  # the supervisor would have spawned again by now
    assert worker_pids() <= before and proc.restarts == 3
    out = run(proc, 1, first=block)[0]
    np.testing.assert_array_equal(out, signal_block(block * 256))  # bypass from now on
