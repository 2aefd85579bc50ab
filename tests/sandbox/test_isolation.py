"""Isolation modes: how many workers each starts, trust domains, culprits, shared restarts."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host._nodetype import CheckContext
from aers_host.sandbox import SandboxedProcessor, load_python_plugin, shared_workers

from ._graphs import chain_config, planned, step, step_plugin, variant, with_plugins, worker_pids
from ._helpers import BLOCK, FAST, PASS, RATE, plugin, signal_block

#: Loops forever in the block starting at sample 3 * BLOCK (the test then kills the worker).
STUCK = f"""
import numpy as np
class P:
    def process(self, inp, out, start, events):
        if start == 3 * {BLOCK}:
            while True:
                pass
        out[:] = inp * 0.5
"""
COUNTER = """
class P:
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


@pytest.mark.parametrize(
    ("isolation", "expected"),
    [
        (None, 2),  # the default: one worker per signing key, as `shared`
        ("per-instance", 4),
        ("sandbox", 4),
        ("per-plugin", 3),
        ("shared", 2),
        ("in-process", 0),
    ],
)
def test_each_mode_starts_the_expected_number_of_workers(
    isolation: str | None, expected: int
) -> None:
    a, b = step_plugin("fx-a"), step_plugin("fx-b")
    c = step_plugin("fx-c", keyid="k2")  # another trust domain: never in the same worker
    reg = with_plugins(a, b, c)
    chosen: dict[str, Any] = {} if isolation is None else {"isolation": isolation}
    config = chain_config(["fx-a", "fx-a", "fx-b", "fx-c"], reg, **chosen)
    before = worker_pids()
    with planned(config, reg) as (plan, engine):
        started = worker_pids() - before
        assert len(started) == expected
        step(plan, engine)
        assert all(not plan.node(f"p{k}").proc.failed for k in range(1, 5))  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while worker_pids() & started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not worker_pids() & started  # closing the plan stops every worker


def test_same_name_signed_by_another_key_gets_its_own_worker() -> None:
    a = step_plugin("fx-a")
    impostor = variant(a, name="fx-a2", keyid="k2")
    reg = with_plugins(a, impostor)
    config = chain_config(["fx-a", "fx-a2", "fx-a"], reg, isolation="shared")
    with planned(config, reg) as (plan, _engine):
        links = {id(plan.node(f"p{k}").proc.link) for k in (1, 2, 3)}  # type: ignore[attr-defined]
        assert len(links) == 2


def make_group(
    *sources: str, isolation: str = "shared", **options: Any
) -> Iterator[list[SandboxedProcessor]]:
    procs = []
    with shared_workers():
        for k, source in enumerate(sources):
            ctx = CheckContext(
                RATE, BLOCK, Path("."), node_id=f"n{k}",
                node_options={"isolation": isolation, **FAST, **options},
            )  # fmt: skip
            proc = load_python_plugin(plugin(source), {}, ctx)
            assert isinstance(proc, SandboxedProcessor)
            proc.prepare(RATE, BLOCK, 2)
            procs.append(proc)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.close()


@pytest.fixture
def group() -> Iterator[Any]:
    made: list[Iterator[list[SandboxedProcessor]]] = []

    def factory(*sources: str, **options: Any) -> list[SandboxedProcessor]:
        gen = make_group(*sources, **options)
        made.append(gen)
        return next(gen)

    yield factory
    for gen in made:
        gen.close()


def blocks(procs: list[SandboxedProcessor], first: int, count: int) -> list[list[np.ndarray]]:
    """Run ``count`` blocks through every processor (each fed the same signal)."""
    outs = []
    for i in range(first, first + count):
        inp = signal_block(i * BLOCK)
        row = []
        for proc in procs:
            out = np.full_like(inp, -7.0)
            proc.process(inp, out, i * BLOCK, ())
            row.append(out)
        outs.append(row)
    return outs


def test_one_worker_hosts_every_node_of_the_group(group: Any) -> None:
    procs = group(PASS, COUNTER, PASS)
    assert len({p._worker.pid for p in procs}) == 1
    for i, row in enumerate(blocks(procs, 0, 3)):
        for out in row:
            np.testing.assert_array_equal(out, signal_block(i * BLOCK))
    assert procs[1].get_state()["plugin"]["n"] == 3
    assert procs[0].get_state() == {"params": {}}  # each node its own state


def test_a_plugin_exception_in_a_shared_worker_is_that_nodes_alone(group: Any) -> None:
    raising = (
        "class P:\n    def process(self, inp, out, start, events):\n        raise ValueError('x')\n"
    )
    procs = group(PASS, raising, PASS)
    blocks(procs, 0, 2)
    assert procs[1].errors == 2 and "ValueError: x" in procs[1].failure_reason
    assert procs[0].errors == procs[2].errors == 0 and not procs[0].failure_reason


def wait_until(procs: list[SandboxedProcessor], first: int, done: Any, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    i = first
    while not done() and time.monotonic() < deadline:
        blocks(procs, i, 1)
        i += 1
        time.sleep(0.01)
    assert done()
    return i


def test_crash_names_the_culprit_and_neighbours_fall_back_then_recover_with_state(
    group: Any,
) -> None:
    procs = group(COUNTER, STUCK, COUNTER, state_every_s=0.01, deadline_ms=20.0,
                  hang_timeout_ms=60_000.0)  # fmt: skip
    before = blocks(procs, 0, 3)
    assert all(np.array_equal(o, signal_block(2 * BLOCK)) for o in before[2][::2])
    time.sleep(0.05)  # a snapshot after block 3's counts
    pid = procs[0]._worker.pid
    stuck = blocks(procs, 3, 1)[0]  # n1 loops: an xrun; the others wait behind it
    assert procs[1].xruns == 1
    np.testing.assert_array_equal(stuck[1], signal_block(3 * BLOCK))  # bypass fallback
    os.kill(pid, signal.SIGKILL)  # the worker dies while running n1's code
    time.sleep(0.05)
    fallback = blocks(procs, 4, 1)[0]
    for out in fallback:
        np.testing.assert_array_equal(out, signal_block(4 * BLOCK))
    assert procs[1].failure_reason == "worker died while running n1"
    for neighbour in (procs[0], procs[2]):
        assert neighbour.failure_reason.startswith("co-hosted with n1 which crashed")
        assert neighbour.window.count == 0 and not neighbour.failed  # not held against them
    wait_until(procs, 5, lambda: procs[0].restarts >= 1)
    assert {p.restarts for p in procs} == {1} and len({p._worker.pid for p in procs}) == 1
    assert procs[0].get_state()["plugin"]["n"] >= 3  # restored, not restarted from 0
    assert procs[2].get_state()["plugin"]["n"] >= 3
    row = blocks(procs, 100, 1)[0]
    np.testing.assert_array_equal(row[1], signal_block(100 * BLOCK) * 0.5)


def test_a_hang_is_blamed_on_the_hanging_node(group: Any) -> None:
    procs = group(PASS, STUCK, deadline_ms=5.0, hang_timeout_ms=100.0)
    blocks(procs, 3, 1)
    segment = procs[1].link.segment
    deadline = time.monotonic() + 30  # a loaded machine may take a while to run the block
    while segment.running() != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.15)  # past the hang timeout, counted from the block that is stuck
    blocks(procs, 4, 1)
    assert procs[1].failure_reason.startswith("worker hung") and "running n1" in (
        procs[1].failure_reason
    )
    assert procs[0].failure_reason.startswith("co-hosted with n1 which hung")


def test_a_refused_plugin_fails_only_its_node_naming_it() -> None:
    procs = []
    with shared_workers():
        for k, source in enumerate((PASS, "import os\nclass P:\n    pass\n")):
            ctx = CheckContext(
                RATE, BLOCK, Path("."), node_id=f"n{k}", node_options={"isolation": "shared"}
            )
            procs.append(load_python_plugin(plugin(source), {}, ctx))
            procs[-1].prepare(RATE, BLOCK, 2)
    try:
        good, refused = procs
        assert refused.failed  # type: ignore[attr-defined]
        assert re.search(r"refused the plugin: n1: .*ImportError", refused.failure_reason)  # type: ignore[attr-defined]
        assert not good.failed and good._worker is not None  # type: ignore[attr-defined]
        inp = signal_block(0)
        outs = [np.full_like(inp, -7.0) for _ in procs]
        for proc, out in zip(procs, outs, strict=True):
            proc.process(inp, out, 0, ())
        np.testing.assert_array_equal(outs[0], inp)  # PASS, from its (restarted) worker
        np.testing.assert_array_equal(outs[1], inp)  # the refused node's bypass
    finally:
        for proc in procs:
            proc.close()  # type: ignore[attr-defined]


def test_outside_a_scope_a_shared_node_gets_its_own_worker() -> None:
    ctx = CheckContext(RATE, BLOCK, Path("."), node_options={"isolation": "shared"})
    procs = [load_python_plugin(plugin(PASS), {}, ctx) for _ in range(2)]
    try:
        for proc in procs:
            proc.prepare(RATE, BLOCK, 2)
        assert procs[0]._worker.pid != procs[1]._worker.pid  # type: ignore[attr-defined]
    finally:
        for proc in procs:
            proc.close()  # type: ignore[attr-defined]
