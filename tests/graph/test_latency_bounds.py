"""Latency from outside the host is bounded before the planner sizes a delay line by it.

Attack (hardening review): a node reporting ``latency_samples = 10**13`` made the planner
allocate a multi-TiB compensation line, and the host died with an internal error. Every
node type reaches the planner, so it refuses the value there with one line naming the
node, the field and the limit (``docs/plugins.md``, "Limits").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphs import Registry, builtin_registry

from aers_host._limits import MAX_LATENCY_SECONDS, MAX_PATH_LATENCY_SECONDS
from aers_host._nodetype import BuiltinNodeType, NodeType
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.dsp import Gain
from aers_host.errors import LimitError
from aers_host.graph import build_plan

RATE = 48_000


class Liar(Gain):
    """A gain that reports whatever latency it is told to; remembers being closed."""

    def __init__(self, latency: object) -> None:
        super().__init__()
        self.latency_samples = latency  # type: ignore[assignment]
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _plan(*latencies: object) -> tuple[list[Liar], Any]:
    """noise → l1 → … → out, each ``lN`` reporting the given latency, plus a dry path."""
    made: list[Liar] = []

    def factory(latency: object) -> Any:
        def create(params: Any, ctx: Any) -> Liar:
            made.append(Liar(latency))
            return made[-1]

        return create

    reg: dict[str, NodeType] = dict(builtin_registry())
    nodes: dict[str, Any] = {
        "src": {"type": "noise"},
        "mix": {"type": "mix"},
        "out": {"type": "output"},
    }
    hops = ["src"]
    for k, latency in enumerate(latencies):
        reg[f"liar{k}"] = BuiltinNodeType(f"liar{k}", "processor", "test", factory(latency))
        nodes[f"l{k}"] = {"type": f"liar{k}"}
        hops.append(f"l{k}")
    edges = [{"from": a, "to": b} for a, b in zip(hops, [*hops[1:], "mix"], strict=True)]
    edges += [{"from": "src", "to": "mix"}, {"from": "mix", "to": "out"}]
    doc = {"version": 1, "sample_rate": RATE, "block_size": 256, "duration": 0.1,
           "nodes": nodes, "connections": edges}  # fmt: skip
    config = validate_config_data(ParsedDocument(doc, "<t>"), registry=reg, base_dir=Path("."))
    return made, lambda: build_plan(config, reg)


@pytest.mark.parametrize("latency", [10**13, -1, 64.5, True, "64"])
def test_node_latency_out_of_range_is_refused_before_any_line(latency: object) -> None:
    made, build = _plan(latency)
    with pytest.raises(LimitError) as info:
        build()
    top = MAX_LATENCY_SECONDS * RATE
    assert str(info.value).startswith("node 'l0': latency_samples = ")
    assert f"0…{top} ({MAX_LATENCY_SECONDS} s at {RATE} Hz)" in str(info.value)
    assert "\n" not in str(info.value)
    assert made[0].closed  # nothing of the refused node is left running


def test_latency_at_the_limit_is_compensated_exactly() -> None:
    top = MAX_LATENCY_SECONDS * RATE
    _, build = _plan(top)
    plan = build()
    try:
        mix = plan.nodes[plan.index["mix"]]
        dry = next(e for e in mix.edges if plan.nodes[e.src].id == "src")
        assert dry.compensation == top and dry.line.shape[1] == top
        assert plan.total_latency == top
    finally:
        plan.close()


def test_path_latency_sum_is_bounded_too() -> None:
    """Each node within its limit, but their sum would size a line past the path limit."""
    top = MAX_LATENCY_SECONDS * RATE
    count = MAX_PATH_LATENCY_SECONDS // MAX_LATENCY_SECONDS + 1
    made, build = _plan(*([top] * count))
    with pytest.raises(
        LimitError, match=rf"path latency = {count * top} .*0…{MAX_PATH_LATENCY_SECONDS * RATE}"
    ):
        build()
    assert made[-1].closed


class LateReport(Gain):
    """Reports 0 when created, then (as a shared worker that started since) 10**13."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    @property  # type: ignore[override]
    def latency_samples(self) -> int:
        self.reads += 1
        return 0 if self.reads == 1 else 10**13


def test_a_latency_reported_after_creation_is_bounded_when_the_planner_realigns(
    registry: Registry,
) -> None:
    """Nodes sharing a worker learn native latency when it starts, after every node was
    created; the planner realigns with it, and must bound it there as at creation."""
    reg: dict[str, NodeType] = dict(registry)
    reg["late"] = BuiltinNodeType("late", "processor", "test", lambda p, c: LateReport())
    doc = {"version": 1, "sample_rate": RATE, "block_size": 256, "duration": 0.1,
           "nodes": {"src": {"type": "noise"}, "fx": {"type": "late"}, "out": {"type": "output"}},
           "connections": [{"from": "src", "to": "fx"}, {"from": "fx", "to": "out"}]}  # fmt: skip
    config = validate_config_data(ParsedDocument(doc, "<t>"), registry=reg, base_dir=Path("."))
    with pytest.raises(LimitError, match=r"node 'fx': latency_samples = 10000000000000"):
        build_plan(config, reg)
