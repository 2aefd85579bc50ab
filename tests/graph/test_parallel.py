"""Independent branches on two threads: bit for bit the single-thread engine's output.

Each render is compared against the same config rendered with ``threads=1`` (the engine's
own single-thread loop), never against a stored copy; the threaded side must really have
run on two threads (``RenderResult.threads``), or the comparison would prove nothing.
"""

from __future__ import annotations

import json
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml
from graphs import Registry

from aers_host import render as api_render
from aers_host.config import GraphConfig, load_config
from aers_host.events import scheduler_for_config
from aers_host.graph import Engine, build_plan, render
from aers_host.live import LiveGraph


def _strip(b: int) -> list[tuple[str, dict[str, Any]]]:
    def band(kind: str, freq: float, **extra: float) -> dict[str, Any]:
        return {"type": "eq", "params": {"bands": [{"type": kind, "freq": freq, **extra}]}}

    return [
        (f"hp{b}", band("highpass", 80 + 10 * b, q=0.707)),
        (f"pk{b}", band("peak", 900 + 300 * b, gain_db=4, q=1.2)),
        (f"cp{b}", {"type": "compressor", "params": {"threshold_db": -24, "ratio": 3}}),
        (f"dl{b}", {"type": "delay", "params": {"ms": 100, "feedback": 0.2, "mix": 0.4}}),
        (f"ls{b}", band("lowshelf", 250, gain_db=-3, q=0.707)),
        (f"lm{b}", {"type": "limiter", "params": {"threshold_db": -3}}),
        (f"g{b}", {"type": "gain", "params": {"gain_db": -2 - b}}),
    ]


def four_branches(**extra: Any) -> dict[str, Any]:
    """4 strips of 8 nodes into a bus; a feedback loop, a side-chain, automation, events."""
    nodes: dict[str, Any] = {
        "ev": {"type": "events", "params": {"channels": 2}},
        "bus": {"type": "mix"},
        "verb": {"type": "reverb", "params": {"room_size": 0.4}},
        "out": {"type": "output"},
    }
    connections: list[dict[str, Any]] = []
    for b in range(4):
        src = f"src{b}"
        nodes[src] = (
            {"type": "noise", "params": {"level_db": -18, "seed": b + 1}}
            if b % 2
            else {"type": "sine", "params": {"freq": 220 * (b + 1), "level_db": -12}}
        )
        previous = src
        for node_id, spec in _strip(b):
            nodes[node_id] = spec
            connections.append({"from": previous, "to": node_id})
            previous = node_id
        connections.append({"from": previous, "to": "bus", "gain_db": -3 * b})
    # a feedback loop inside branch 0: g0 back into its delay (read after the block)
    connections.append({"from": "g0", "to": "dl0", "gain_db": -9})
    # branch 1 ends in a ducker keyed by branch 2's source (a dependency across branches)
    nodes["duck1"] = {"type": "duck", "params": {"depth_db": 12, "threshold_db": -40}}
    connections = [c for c in connections if not (c["from"] == "g1" and c["to"] == "bus")]
    connections += [
        {"from": "g1", "to": "duck1"},
        {"from": "src2", "to": "duck1", "port": "sidechain"},
        {"from": "duck1", "to": "bus"},
        {"from": "ev", "to": "bus"},
        {"from": "bus", "to": "verb"},
        {"from": "verb", "to": "out"},
        {"from": "hp3", "to": "out", "tap": "pre", "gain_db": -12},  # a pre-fader send
    ]
    nodes["g3"]["automation"] = {"gain_db": [[0.0, -20.0], [0.2, 0.0, "linear"], [0.3, -6.0]]}
    return {
        "sample_rate": 48_000,
        "duration": 0.4,
        "nodes": nodes,
        "connections": connections,
        "events": [
            {
                "id": "hit",
                "category": "fx",
                "at": 4321,
                "to": "hp0",
                "source": {"generator": "impulse"},
            },
            {
                "id": "boom",
                "category": "fx",
                "at": 9000,
                "to": "ev",
                "source": {"generator": "explosion", "seed": 3},
                "duration": 0.1,
            },
        ],
        **extra,
    }


def load(
    registry: Registry, tmp_path: Path, data: dict[str, Any], **overrides: object
) -> GraphConfig:
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path, registry=registry, overrides=overrides)


def rendered(registry: Registry, cfg: GraphConfig, threads: int) -> tuple[np.ndarray, int]:
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    result = render(
        cfg,
        registry,
        out_dir=None,
        events=sched,
        event_targets=sched.targets(),
        capture=True,
        threads=threads,
    )
    return result.captured["out"], result.threads


def our_lane_threads() -> set[int]:
    return {t.ident or 0 for t in threading.enumerate() if t.name.startswith("aers-lane-")}


@pytest.mark.parametrize("block", [32, 257, 1024, 4096])
def test_two_threads_render_bit_identical_with_feedback_sidechain_automation_events(
    registry: Registry, tmp_path: Path, block: int
) -> None:
    cfg = load(registry, tmp_path, four_branches(), block_size=block)
    single, one = rendered(registry, cfg, 1)
    double, two = rendered(registry, cfg, 2)
    assert (one, two) == (1, 2)
    assert np.abs(single).max() > 0.01  # real audio, not two silences
    assert single.shape == double.shape == (2, round(0.4 * 48_000))
    assert np.array_equal(single, double)


def test_python_render_threads_argument_and_config_key(registry: Registry, tmp_path: Path) -> None:
    data = four_branches()
    data.pop("events")
    data["nodes"].pop("ev")
    data["connections"] = [c for c in data["connections"] if c["from"] != "ev"]
    reference = api_render(load(registry, tmp_path, data, block_size=128), threads=1)["out"]
    by_argument = api_render(load(registry, tmp_path, data, block_size=128), threads=2)["out"]
    by_key = api_render(load(registry, tmp_path, {**data, "threads": 2}, block_size=128))["out"]
    assert np.array_equal(reference, by_argument)
    assert np.array_equal(reference, by_key)


def test_a_single_chain_runs_on_one_thread_and_starts_no_worker(
    registry: Registry, tmp_path: Path
) -> None:
    text = """
        nodes:
          src: {type: noise, params: {seed: 1}}
          a:   {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1}]}}
          b:   {type: compressor, params: {threshold_db: -20}}
          out: {type: output}
        connections:
          - {from: src, to: a}
          - {from: a, to: b}
          - {from: b, to: out}
    """
    path = tmp_path / "chain.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    cfg = load_config(path, registry=registry, overrides={"duration": 0.1})
    before = our_lane_threads()
    for threads in (None, 2, 8):
        plan = build_plan(cfg, registry)
        engine = Engine(plan, threads=threads)
        assert engine.threads == 1
        assert not engine.branch_schedule.parallel
        assert our_lane_threads() == before
        engine.close()
        plan.close()


def test_engine_close_stops_its_workers(registry: Registry, tmp_path: Path) -> None:
    cfg = load(registry, tmp_path, four_branches(), block_size=512)
    before = our_lane_threads()
    plan = build_plan(cfg, registry)
    engine = Engine(plan, threads=2)
    started = our_lane_threads() - before
    assert engine.threads == 2 and len(started) == 1
    engine.process_block(512)
    engine.close()
    engine.close()  # idempotent
    assert not started & our_lane_threads()
    plan.close()


def test_render_leaves_no_worker_thread_behind(registry: Registry, tmp_path: Path) -> None:
    cfg = load(registry, tmp_path, four_branches(), block_size=512)
    before = our_lane_threads()
    _, threads = rendered(registry, cfg, 2)
    assert threads == 2
    assert our_lane_threads() <= before


def test_live_graph_runs_branches_on_shared_workers_bit_identical(
    registry: Registry, tmp_path: Path
) -> None:
    data = four_branches()
    data.pop("events")
    data["nodes"].pop("ev")
    data["connections"] = [c for c in data["connections"] if c["from"] != "ev"]
    outputs = {}
    before = our_lane_threads()
    for threads in (1, 2):
        cfg = load(registry, tmp_path, {**data, "threads": threads}, block_size=256)
        live = LiveGraph(cfg, registry, crossfade_ms=2)
        blocks = []
        for k in range(40):
            if k == 10:  # an edit: the new plans' engines share the graph's workers
                live.submit({"op": "set_gain", "from": "g2", "to": "bus", "gain_db": -12})
            live.process_block(256)
            blocks.append(live.plan.node("verb").out_buf.copy())
        assert live.engine.threads == threads
        live.close()
        outputs[threads] = np.concatenate(blocks, axis=1)
    assert np.array_equal(outputs[1], outputs[2])
    assert our_lane_threads() <= before


def test_threads_out_of_range_is_refused_in_config(registry: Registry, tmp_path: Path) -> None:
    from aers_host.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load(registry, tmp_path, {**four_branches(), "threads": 0})
    assert "threads" in str(caught.value)


def test_cli_render_threads_option(tmp_path: Path, run_cli: Any) -> None:
    data = four_branches()
    data.pop("events")
    data["nodes"].pop("ev")
    data["connections"] = [c for c in data["connections"] if c["from"] != "ev"]
    config = tmp_path / "graph.yaml"
    config.write_text(yaml.safe_dump({**data, "duration": 0.1}), encoding="utf-8")
    for threads in ("1", "2"):
        out = tmp_path / threads
        assert run_cli("render", config, "--out-dir", out, "--threads", threads).code == 0
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["threads"] == int(threads)
    one, _ = sf.read(tmp_path / "1" / "out.wav", dtype="float32")
    two, _ = sf.read(tmp_path / "2" / "out.wav", dtype="float32")
    assert np.array_equal(one, two)
    refused = run_cli("render", config, "--out-dir", tmp_path / "x", "--threads", "0")
    assert refused.code == 2
    assert "--threads" in refused.err and "1 … 64 or auto" in refused.err
