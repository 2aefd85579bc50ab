"""End to end through the real planner and engine: the issue's acceptance checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from graphs import LoadGraph, Registry

from aers_host.config import GraphConfig
from aers_host.errors import ConfigError
from aers_host.events import (
    log_entries_for_plan,
    read_event_log,
    scheduler_for_config,
    write_event_log,
)
from aers_host.graph import render

PROBE = """
    duration: 0.5
    nodes:
      ev:  {type: events, params: {channels: 1}}
      lim: {type: limiter, params: {threshold_db: -1, lookahead_ms: 1}}
      dry: {type: sine, params: {freq: 100, level_db: -120, channels: 1}}
      bus: {type: mix}
      out: {type: output}
    connections:
      - {from: ev, to: lim}
      - {from: lim, to: bus}
      - {from: dry, to: bus}
      - {from: bus, to: out}
    events:
      - {id: click, category: probe, at: 12345, source: {generator: impulse}}
"""

SCENE = """
    duration: 3.0
    seed: 5
    routing: {footsteps: sfx, explosion: sfx, dialogue: dlg, ambience: amb}
    nodes:
      sfx:  {type: events, params: {channels: 2}, max_voices: 2, steal: quietest}
      dlg:  {type: events, params: {channels: 2}}
      amb:  {type: events, params: {channels: 2}}
      duck: {type: duck, params: {depth_db: 12, threshold_db: -45}}
      bus:  {type: mix}
      out:  {type: output}
    connections:
      - {from: amb, to: duck}
      - {from: dlg, to: duck, port: sidechain}
      - {from: duck, to: bus}
      - {from: dlg, to: bus}
      - {from: sfx, to: bus}
      - {from: bus, to: out}
"""


def run(registry: Registry, cfg: GraphConfig, replay: Path | None = None):  # type: ignore[no-untyped-def]
    sched = scheduler_for_config(cfg, registry, replay=replay)
    assert sched is not None
    result = render(
        cfg, registry, out_dir=None, events=sched, event_targets=sched.targets(), capture=True
    )
    return sched, result


@pytest.mark.parametrize("block", [512, 64, 4096])
def test_event_at_12345_first_sounds_at_12345_plus_path_latency(
    load_graph: LoadGraph, registry: Registry, block: int
) -> None:
    sched, result = run(registry, load_graph(PROBE, block_size=block))
    latency = result.plan.total_latency
    assert latency > 0  # the limiter's look-ahead
    audio = result.captured["out"]
    assert np.flatnonzero(np.abs(audio[0]) > 1e-3)[0] == 12345 + latency
    [entry] = log_entries_for_plan(sched, result.plan)
    path = {step["node"]: (step["in"], step["out"]) for step in entry["path"]}
    assert path["ev"] == (12345, 12345)
    assert path["lim"] == (12345, 12345 + latency)
    assert path["out"] == (12345 + latency, 12345 + latency)
    assert path["bus"] == path["out"]  # dry path delayed to match: PDC


def test_replay_is_bit_exact_and_block_size_free(
    load_graph: LoadGraph, registry: Registry, tmp_path: Path
) -> None:
    scene = tmp_path / "scene.jsonl"
    from aers_host.events import generate_scene, write_scene

    write_scene(generate_scene("mixed", 10, seed=8, duration=2.5), scene)
    cfg = load_graph(SCENE + "    scene: scene.jsonl\n")
    sched, first = run(registry, cfg)
    log = write_event_log(
        tmp_path / "run.jsonl",
        log_entries_for_plan(sched, first.plan),
        sample_rate=cfg.sample_rate,
        block_size=cfg.block_size,
    )
    assert np.count_nonzero(first.captured["out"]) > 0
    _, again = run(registry, load_graph(SCENE, block_size=128), replay=log)
    assert np.array_equal(again.captured["out"], first.captured["out"])
    assert read_event_log(log).entries[0]["path"][0]["in"] == sched.events[0].at


def test_no_events_means_no_scheduler(load_graph: LoadGraph, registry: Registry) -> None:
    assert scheduler_for_config(load_graph(SCENE), registry) is None


def test_sole_events_node_takes_unrouted_events(load_graph: LoadGraph, registry: Registry) -> None:
    cfg = load_graph(PROBE.replace("category: probe", "category: misc"))
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None and sched.targets() == frozenset({"ev"})


def test_event_errors_carry_config_lines(load_graph: LoadGraph, registry: Registry) -> None:
    cfg = load_graph(PROBE.replace("at: 12345", "at: -5"))
    with pytest.raises(ConfigError) as info:
        scheduler_for_config(cfg, registry)
    [problem] = info.value.problems
    assert problem.path == "events.0.at" and problem.line == 14


def test_replayed_log_must_fit_the_graph(
    load_graph: LoadGraph, registry: Registry, tmp_path: Path
) -> None:
    from aers_host.events import Event

    log = write_event_log(
        tmp_path / "run.jsonl",
        [Event("x", "fx", 0, {"generator": "impulse"}, to="gone").to_record()],
        sample_rate=48000,
    )
    with pytest.raises(ConfigError, match="'gone' is not in"):
        scheduler_for_config(load_graph(PROBE), registry, replay=log)


def test_events_into_a_processor_input(load_graph: LoadGraph, registry: Registry) -> None:
    cfg = load_graph(
        PROBE.replace("source: {generator: impulse}}", "source: {generator: impulse}, to: bus}"),
    )
    _, result = run(registry, cfg)
    # The event enters the bus *input*, after the compensated limiter path: no extra latency.
    assert np.flatnonzero(np.abs(result.captured["out"][0]) > 1e-3)[0] == 12345
