"""Fused runs: a chain of co-hosted nodes in one round trip, exactly as if run one by one."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

from aers_host.graph import Engine, Plan

from ._graphs import (
    GAIN_SPEC,
    STEP,
    chain_config,
    planned,
    step,
    step_plugin,
    variant,
    with_plugins,
)
from ._helpers import plugin

SLOW = {"deadline_ms": 2000.0}  # exactness tests must not see a loaded machine's xruns
#: Loops forever in the block that starts at sample 4 * 256 (the test kills the worker).
STUCK = STEP.replace(
    "        self.n = self.n + 1\n",
    "        self.n = self.n + 1\n        if start == 4 * 256:\n            while True:\n"
    "                pass\n",
)


def run_blocks(plan: Plan, engine: Engine, count: int) -> list[dict[str, np.ndarray]]:
    """Per block, a copy of every node's output buffer."""
    outs = []
    for _ in range(count):
        step(plan, engine)
        outs.append({n.id: n.out_buf.copy() for n in plan.nodes if n.role != "sink"})
    return outs


def chain_outputs(isolation: str | None, count: int = 6, n: int = 8) -> tuple[list[Any], list[int]]:
    reg = with_plugins(step_plugin())
    chosen: dict[str, Any] = {} if isolation is None else {"isolation": isolation}
    config = chain_config(["step"] * n, reg, **chosen, **SLOW)
    with planned(config, reg) as (plan, engine):
        outs = run_blocks(plan, engine, count)
        procs = [plan.node(f"p{k + 1}").proc for k in range(n)]
        fused = [p.run is not None for p in procs]  # type: ignore[attr-defined]
        rings = procs[0].link._seq  # type: ignore[attr-defined]
        xruns = sum(p.xruns for p in procs)  # type: ignore[attr-defined]
    assert xruns == 0
    return outs, [int(all(fused)), rings]


def test_fused_chain_is_bit_exact_with_the_unfused_one_node_by_node() -> None:
    fused, (all_fused, rings) = chain_outputs(None)  # the default isolation fuses one key's run
    alone, (none_fused, _) = chain_outputs("per-instance")
    assert all_fused == 1 and none_fused == 0
    assert rings == 6  # one doorbell per block for the whole chain of 8
    for block_fused, block_alone in zip(fused, alone, strict=True):
        for node_id, out in block_alone.items():
            np.testing.assert_array_equal(block_fused[node_id], out, err_msg=node_id)
    # every follower's out_buf holds its own stage (stateful: each adds 0.001 * block)
    np.testing.assert_allclose(fused[0]["p2"], fused[0]["p1"] * 0.9 + 0.001, rtol=1e-6)


def test_per_plugin_workers_fuse_too_but_other_plugins_break_the_run() -> None:
    a, b = step_plugin("fx-a"), step_plugin("fx-b")
    reg = with_plugins(a, b)
    config = chain_config(["fx-a", "fx-a", "fx-b", "fx-a"], reg, isolation="per-plugin", **SLOW)
    with planned(config, reg) as (plan, _engine):
        runs = [plan.node(f"p{k}").proc.run for k in (1, 2, 3, 4)]  # type: ignore[attr-defined]
    assert runs[0] is runs[1] is not None and runs[2] is None and runs[3] is None


def test_a_fanned_out_node_ends_the_run() -> None:
    reg = with_plugins(step_plugin())
    config = chain_config(["step"] * 3, reg, isolation="shared", extra=(("p2", "out"),), **SLOW)
    with planned(config, reg) as (plan, _engine):
        runs = [plan.node(f"p{k}").proc.run for k in (1, 2, 3)]  # type: ignore[attr-defined]
    assert runs[0] is runs[1] is not None and runs[2] is None


def test_bypassing_a_follower_falls_back_to_per_node_round_trips_exactly() -> None:
    reg = with_plugins(step_plugin())
    config = chain_config(["step"] * 3, reg, isolation="shared", **SLOW)
    with planned(config, reg) as (plan, engine):
        run_blocks(plan, engine, 1)
        plan.node("p2").bypass = True
        engine.invalidate()
        before = plan.node("p1").proc.link._seq  # type: ignore[attr-defined]
        out = run_blocks(plan, engine, 1)[0]
        assert plan.node("p1").proc.link._seq - before == 2  # p1 and p3, each alone
        np.testing.assert_array_equal(out["p2"], out["p1"])
        np.testing.assert_allclose(out["p3"], out["p1"] * 0.9 + 0.002, rtol=1e-6)


def test_crash_mid_chain_falls_back_names_the_culprit_and_recovers() -> None:
    stuck = variant(plugin(STUCK, GAIN_SPEC, name="stuck"), keyid="k1")
    reg = with_plugins(step_plugin(), stuck)
    config = chain_config(["step", "step", "stuck", "step"], reg, isolation="shared",
                          deadline_ms=50.0)  # fmt: skip
    with planned(config, reg) as (plan, engine):
        procs: list[Any] = [plan.node(f"p{k}").proc for k in (1, 2, 3, 4)]
        run_blocks(plan, engine, 3)
        time.sleep(0.3)  # past the default snapshot period: the next block's states are saved
        run_blocks(plan, engine, 1)
        pid = procs[0]._worker.pid
        stuck_block = run_blocks(plan, engine, 1)[0]  # p3 loops: the fused block is late
        assert all(p.xruns == 1 for p in procs)
        np.testing.assert_array_equal(stuck_block["p4"], stuck_block["src"])  # all bypass
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        run_blocks(plan, engine, 1)
        assert procs[2].failure_reason == "worker died while running p3"
        for k in (0, 1, 3):
            assert procs[k].failure_reason.startswith("co-hosted with p3 which crashed")
        deadline = time.monotonic() + 10
        while procs[0].restarts == 0 and time.monotonic() < deadline:
            run_blocks(plan, engine, 1)
            time.sleep(0.01)
        after = run_blocks(plan, engine, 1)[0]
        assert procs[0].run is not None and procs[0].restarts == 1
        assert procs[0].get_state()["plugin"]["n"] >= 5  # resumed from its own snapshot
        expected = after["src"]
        for k in range(1, 5):  # each stage: x * 0.9 + 0.001 * n, with n >= 5 after the restore
            assert np.all(after[f"p{k}"] > expected * 0.9 + 0.001 * 4), k
            expected = after[f"p{k}"]
