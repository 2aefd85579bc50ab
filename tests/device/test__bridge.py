"""Underrun attribution: a node that overran its period, or the machine's scheduling."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aers_host.device import UnderrunBlame
from aers_host.graph import BlockTimings

PERIOD_NS = 256 * 1_000_000_000 // 48_000  # 5.33 ms


def plan_of(*ids: str) -> Any:
    return SimpleNamespace(nodes=[SimpleNamespace(id=i) for i in ids])


def test_an_overrunning_block_blames_its_slowest_node_else_scheduling() -> None:
    device = SimpleNamespace(underruns=0, sample_rate=48_000)
    blame = UnderrunBlame(device)  # type: ignore[arg-type]
    plan = plan_of("tone", "verb", "main")
    timings = BlockTimings.allocate(4, 3)

    def block(node_ns: list[int]) -> None:
        timings.node_ns[timings.count % 4] = node_ns
        timings.block_ns[timings.count % 4] = sum(node_ns)
        timings.count += 1

    block([100_000, 200_000, 10_000])  # well within the period, no underrun
    assert blame.update(plan, timings, 256) == 0
    device.underruns = 2
    block([100_000, PERIOD_NS + 1_000, 10_000])  # the reverb alone overran the period
    assert blame.update(plan, timings, 256) == 2
    device.underruns = 3
    block([100_000, 300_000, 10_000])  # on time: the thread was not scheduled
    assert blame.update(plan, timings, 256) == 1
    timings.count = 0  # aers serve's timing ring wrapped: the last row is the newest
    device.underruns = 4
    timings.node_ns[3] = [PERIOD_NS * 2, 0, 0]
    timings.block_ns[3] = PERIOD_NS * 2
    assert blame.update(plan, timings, 256) == 1
    assert blame.metrics() == {
        "underruns_by_node": {"verb": 2, "tone": 1},
        "underruns_scheduling": 1,
    }
