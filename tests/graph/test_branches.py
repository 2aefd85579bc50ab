"""Splitting a plan into levels of independent lanes (which nodes may run at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from graphs import Registry

from aers_host.config import load_config
from aers_host.errors import GraphError
from aers_host.graph import Plan, build_plan
from aers_host.graph import _branches as branches
from aers_host.graph._branches import resolve_threads, split_levels

EQ = {"type": "eq", "params": {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3, "q": 1}]}}


def plan_of(
    registry: Registry,
    tmp_path: Path,
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    block: int = 512,
) -> Plan:
    data = {
        "block_size": block,
        "duration": 0.1,
        "nodes": {**nodes, "out": {"type": "output"}},
        "connections": [{"from": a, "to": b} for a, b in edges],
    }
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return build_plan(load_config(path, registry=registry), registry)


def chains(
    count: int, length: int, head: str | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``count`` chains of ``length`` EQs into ``bus`` → out, fed by own sources or ``head``."""
    nodes: dict[str, Any] = {"bus": {"type": "mix"}}
    edges = [("bus", "out")]
    if head is not None:
        nodes[head] = {"type": "noise", "params": {"seed": 1}}
    for c in range(count):
        previous = head or f"s{c}"
        if head is None:
            nodes[previous] = {"type": "noise", "params": {"seed": c + 1}}
        for k in range(length):
            nodes[f"e{c}_{k}"] = EQ
            edges.append((previous, f"e{c}_{k}"))
            previous = f"e{c}_{k}"
        edges.append((previous, "bus"))
    return nodes, edges


def ids(plan: Plan, lane: tuple[int, ...]) -> list[str]:
    return [plan.nodes[i].id for i in lane]


def test_four_branches_go_to_two_lanes_then_the_bus(registry: Registry, tmp_path: Path) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8))
    schedule = split_levels(plan, 2)
    assert schedule.threads == 2
    first, last = schedule.levels
    assert len(first) == 2
    assert sorted(ids(plan, first[0]) + ids(plan, first[1])) == sorted(
        n.id for n in plan.nodes if n.id not in ("bus", "out")
    )
    for lane in first:  # whole branches, never split, each in plan order
        names = ids(plan, lane)
        assert {n.split("_")[0].lstrip("se") for n in names if n != "bus"} in (
            {"0", "2"},
            {"1", "3"},
        )
        assert list(lane) == sorted(lane)
    assert [ids(plan, lane) for lane in last] == [["bus", "out"]]
    plan.close()


def test_one_source_fanning_out_runs_its_chains_in_parallel_after_it(
    registry: Registry, tmp_path: Path
) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8, head="src"))
    levels = split_levels(plan, 2).levels
    assert [len(level) for level in levels] == [1, 2, 1]
    assert ids(plan, levels[0][0]) == ["src"]
    plan.close()


def test_a_strip_with_a_send_into_its_own_submix_stays_one_lane(
    registry: Registry, tmp_path: Path
) -> None:
    nodes: dict[str, Any] = {"master": {"type": "mix"}}
    edges = [("master", "out")]
    for c in range(4):
        s, a, b, g, m = (f"{k}{c}" for k in ("s", "a", "b", "g", "m"))
        nodes |= {s: {"type": "noise", "params": {"seed": c + 1}}, a: EQ, b: EQ, m: {"type": "mix"},
                  g: {"type": "gain", "params": {"gain_db": -3}}}  # fmt: skip
        edges += [(s, a), (a, b), (b, g), (g, m), (a, m), (m, "master")]
    plan = plan_of(registry, tmp_path, nodes, edges, block=2048)
    levels = split_levels(plan, 2).levels
    assert [len(level) for level in levels] == [2, 1]  # one barrier per block, not three
    plan.close()


def test_one_thread_or_a_chain_is_one_level_of_one_lane(registry: Registry, tmp_path: Path) -> None:
    plan = plan_of(registry, tmp_path, *chains(1, 6))
    for threads in (1, 2, None):
        schedule = split_levels(plan, threads)
        assert not schedule.parallel
        assert schedule.levels == ((tuple(range(len(plan.nodes))),),)
    plan.close()


def test_too_little_work_per_lane_stays_on_one_thread(registry: Registry, tmp_path: Path) -> None:
    plan = plan_of(registry, tmp_path, *chains(2, 1), block=32)
    assert not split_levels(plan, 2).parallel
    plan.close()


def test_auto_keeps_builtin_branches_on_one_thread_at_every_block_size(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(branches, "available_cores", lambda: 2)
    for block in (512, 8192):
        plan = plan_of(registry, tmp_path, *chains(4, 8), block=block)
        assert split_levels(plan, 2).parallel  # asked for: it runs on two
        assert not split_levels(plan, None).parallel  # auto: measured slower, so not
        plan.close()


class _SharedWorkerProc:
    """Stands for sandboxed processors waiting on one worker process (``WaitsElsewhere``)."""

    latency_samples = 0

    def __init__(self, link: object) -> None:
        self.waits_on = link


def test_auto_runs_lanes_that_wait_on_workers_at_once(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8), block=128)
    for c in range(4):  # one worker per node (per-instance isolation)
        plan.nodes[plan.index[f"e{c}_2"]].proc = _SharedWorkerProc(object())  # type: ignore[assignment]
    monkeypatch.setattr(branches, "available_cores", lambda: 2)
    assert split_levels(plan, None).threads == 2
    monkeypatch.setattr(branches, "available_cores", lambda: 1)
    assert not split_levels(plan, None).parallel


def test_nodes_sharing_a_worker_stay_on_one_lane(registry: Registry, tmp_path: Path) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8))
    link = object()
    shared = [plan.index["e0_3"], plan.index["e1_3"]]
    for i in shared:
        plan.nodes[i].proc = _SharedWorkerProc(link)  # type: ignore[assignment]
    schedule = split_levels(plan, 2)
    lanes = [lane for lane in schedule.levels[0] if shared[0] in lane]
    assert len(lanes) == 1 and shared[1] in lanes[0]


class _OwnConnectionProc:
    """Stands for remote nodes: each waits on a connection of its own (``waits_on`` is itself)."""

    latency_samples = 0

    @property
    def waits_on(self) -> object:
        return self


def test_nodes_waiting_on_their_own_connections_may_run_apart(
    registry: Registry, tmp_path: Path
) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8))
    apart = [plan.index["e0_3"], plan.index["e1_3"]]
    for i in apart:
        plan.nodes[i].proc = _OwnConnectionProc()  # type: ignore[assignment]
    lanes = [lane for lane in split_levels(plan, 2).levels[0] if set(apart) & set(lane)]
    assert len(lanes) == 2  # nothing shared: dealt like built-in chains
    for i in apart:
        plan.nodes[i].proc = _SharedWorkerProc(object())  # type: ignore[assignment]
    assert [lane for lane in split_levels(plan, 2).levels[0] if set(apart) & set(lane)] == lanes


@pytest.mark.parametrize("bad", [0, 65, True, "two", 1.5])
def test_resolve_threads_refuses_what_is_not_1_to_64_or_auto(bad: object) -> None:
    with pytest.raises(GraphError, match="threads must be"):
        resolve_threads(bad)  # type: ignore[arg-type]


def test_resolve_threads_auto_and_counts() -> None:
    assert resolve_threads("auto") is None
    assert resolve_threads(None) is None
    assert resolve_threads(3) == 3


def level_of(levels: tuple[tuple[tuple[int, ...], ...], ...], index: int) -> int:
    return next(k for k, level in enumerate(levels) if any(index in lane for lane in level))


def test_a_side_chain_or_pre_tap_from_another_branch_runs_after_its_source(
    registry: Registry,
    tmp_path: Path,
) -> None:
    nodes, edges = chains(4, 8)
    nodes["duck"] = {"type": "duck", "params": {"depth_db": 6}}
    edges = [e for e in edges if e != ("e0_7", "bus")] + [("e0_7", "duck"), ("duck", "bus")]
    path_nodes = {**nodes, "out": {"type": "output"}}
    data = {
        "block_size": 512,
        "duration": 0.1,
        "nodes": path_nodes,
        "connections": [{"from": a, "to": b} for a, b in edges]
        + [
            {"from": "e2_3", "to": "duck", "port": "sidechain"},
            {"from": "e3_4", "to": "bus", "tap": "pre"},
        ],
    }
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = build_plan(load_config(path, registry=registry), registry)
    levels = split_levels(plan, 2).levels
    duck, key = plan.index["duck"], plan.index["e2_3"]
    assert level_of(levels, duck) > level_of(levels, key)
    assert level_of(levels, plan.index["bus"]) > level_of(levels, plan.index["e3_4"])
    plan.close()


class _InProcessPluginProc:
    """Stands for foreign code running in this process (no worker link, no peer)."""

    latency_samples = 0


def test_in_process_plugin_nodes_of_one_type_stay_on_one_lane(
    registry: Registry, tmp_path: Path
) -> None:
    plan = plan_of(registry, tmp_path, *chains(4, 8))
    same_type = [plan.index["e0_5"], plan.index["e3_5"]]
    for i in same_type:
        plan.nodes[i].proc = _InProcessPluginProc()  # type: ignore[assignment]
    lanes = [lane for lane in split_levels(plan, 2).levels[0] if same_type[0] in lane]
    assert len(lanes) == 1 and same_type[1] in lanes[0]
