"""The event log's per-node samples match the rendered audio; unrendered events are not played.

Every case renders a small config with the real planner and engine and compares the log's
``in`` sample at the output with the first non-zero sample of the output's audio.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry

from aers_host.config import GraphConfig, load_config
from aers_host.events import log_entries_for_plan, read_event_log, scheduler_for_config
from aers_host.graph import render

AT = 12345
LIM = "{type: limiter, params: {threshold_db: -1, lookahead_ms: 1}}"  # 48 samples at 48 kHz


def chain_config(tmp_path: Path, nodes: dict[str, str], *, block: int = 512) -> Path:
    """``ev`` → the nodes in order → ``main``, one impulse at ``AT`` and one at 100 s."""
    ids = ["ev", *nodes, "main"]
    body = "\n".join(f"      {node}: {spec}" for node, spec in nodes.items())
    wires = "\n".join(f"      - {{from: {a}, to: {b}}}" for a, b in pairwise(ids))
    text = f"""
    duration: 1.0
    block_size: {block}
    nodes:
      ev: {{type: events, params: {{channels: 1}}}}
{body}
      main: {{type: output}}
    connections:
{wires}
    events:
      - {{id: click, category: probe, at: {AT}, source: {{generator: impulse}}}}
      - {{id: late, category: probe, at: 4800000, source: {{generator: impulse}}}}
    """
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def render_and_log(registry: Registry, path: Path) -> tuple[dict[str, dict], np.ndarray]:  # type: ignore[type-arg]
    cfg: GraphConfig = load_config(path, registry=registry)
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    result = render(
        cfg, registry, out_dir=None, events=sched, event_targets=sched.targets(), capture=True
    )
    entries = {e["id"]: e for e in log_entries_for_plan(sched, result.plan)}
    return entries, result.captured["main"]


def first_nonzero(audio: np.ndarray) -> int:
    return int(np.flatnonzero(np.any(audio != 0.0, axis=0))[0])


def steps(entry: dict) -> dict[str, tuple[int, int]]:  # type: ignore[type-arg]
    return {s["node"]: (s["in"], s["out"]) for s in entry["path"]}


@pytest.mark.parametrize(
    ("nodes", "onset"),
    [
        pytest.param({"g": "{type: gain, params: {gain_db: -6}}"}, AT, id="gain"),
        pytest.param({"dly": "{type: delay, params: {samples: 100, mix: 1.0}}"}, AT + 100, id="wet"),
        pytest.param({"dly": "{type: delay, params: {samples: 100}}"}, AT + 100, id="default-mix"),
        pytest.param({"dly": "{type: delay, params: {ms: 5}}"}, AT + 240, id="ms"),
        # a dry share lets the impulse through at once; the echo follows 100 samples later
        pytest.param({"dly": "{type: delay, params: {samples: 100, mix: 0.5}}"}, AT, id="dry"),
        pytest.param({"dly": "{type: delay, params: {samples: 100, mix: 0.0}}"}, AT, id="mix-0"),
        pytest.param(
            {"dly": "{type: delay, params: {samples: 100}}", "byp": "{type: delay, params: "
             "{samples: 500}, bypass: true}"},
            AT + 100,
            id="bypassed-delay",
        ),
        pytest.param(
            {"lim": LIM, "dly": "{type: delay, params: {samples: 100}}"}, AT + 148, id="lim-dly"
        ),
        pytest.param(
            {"dly": "{type: delay, params: {samples: 100}}", "lim": LIM}, AT + 148, id="dly-lim"
        ),
        pytest.param(
            {"a": "{type: delay, params: {samples: 100}}",
             "b": "{type: delay, params: {samples: 7, mix: 1}}"},
            AT + 107,
            id="two-delays",
        ),
    ],
)  # fmt: skip
def test_log_samples_match_the_first_rendered_sample(
    registry: Registry, tmp_path: Path, nodes: dict[str, str], onset: int
) -> None:
    entries, audio = render_and_log(registry, chain_config(tmp_path, nodes))
    path = steps(entries["click"])
    assert first_nonzero(audio) == onset
    assert path["main"] == (onset, onset)
    # every node's output is the next one's input along the chain
    ids = ["ev", *nodes, "main"]
    for a, b in pairwise(ids):
        assert path[a][1] == path[b][0], (a, b, path)


def test_delay_in_the_issue_chain_adds_its_samples_after_the_latency(
    registry: Registry, tmp_path: Path
) -> None:
    nodes = {"limiter": LIM, "delay": "{type: delay, params: {samples: 100}}"}
    entries, audio = render_and_log(registry, chain_config(tmp_path, nodes))
    path = steps(entries["click"])
    assert path["limiter"] == (AT, AT + 48)
    assert path["delay"] == (AT + 48, AT + 148)
    assert path["main"] == (AT + 148, AT + 148) == (first_nonzero(audio),) * 2


@pytest.mark.parametrize("block", [64, 512, 4096])
def test_earliest_path_counts_where_delayed_and_direct_paths_join(
    registry: Registry, tmp_path: Path, block: int
) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            duration: 0.5
            block_size: {block}
            nodes:
              ev: {{type: events, params: {{channels: 1}}}}
              lim: {LIM}
              dly: {{type: delay, params: {{samples: 300}}}}
              bus: {{type: mix}}
              main: {{type: output}}
              echo: {{type: output}}
            connections:
              - {{from: ev, to: lim}}
              - {{from: lim, to: bus}}
              - {{from: ev, to: dly}}
              - {{from: dly, to: bus}}
              - {{from: dly, to: echo}}
              - {{from: bus, to: main}}
            events:
              - {{id: click, category: probe, at: 1000, source: {{generator: impulse}}}}
            """
        ).lstrip(),
        encoding="utf-8",
    )
    cfg = load_config(path, registry=registry)
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    result = render(
        cfg, registry, out_dir=None, events=sched, event_targets=sched.targets(), capture=True
    )
    [entry] = log_entries_for_plan(sched, result.plan)
    got = steps(entry)
    # main: the limiter path (48, compensated on the delay path too) comes first
    assert got["main"][0] == first_nonzero(result.captured["main"]) == 1048
    assert got["dly"] == (1000, 1300)
    assert got["echo"][0] == first_nonzero(result.captured["echo"]) == 1300


def test_an_event_after_the_render_end_is_unplayed(registry: Registry, tmp_path: Path) -> None:
    entries, _ = render_and_log(registry, chain_config(tmp_path, {"g": "{type: gain}"}))
    late = entries["late"]
    assert late["status"] == "unplayed"
    assert late["path"] == [] and late["peak_db"] is None and late["stolen_by"] is None
    assert entries["click"]["status"] == "played" and entries["click"]["peak_db"] == 0.0


def test_an_event_on_the_last_sample_played_one_on_the_end_did_not(
    registry: Registry, tmp_path: Path
) -> None:
    config = chain_config(tmp_path, {"g": "{type: gain}"})
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(f"at: {AT}", "at: 47999").replace("at: 4800000", "at: 48000"),
        encoding="utf-8",
    )
    entries, audio = render_and_log(registry, config)
    assert audio.shape[1] == 48000 and first_nonzero(audio) == 47999
    assert entries["click"]["status"] == "played"
    assert entries["late"]["status"] == "unplayed"


def test_events_record_cli_matches_the_wav(run_cli: Callable[..., object], tmp_path: Path) -> None:
    """The acceptance check: ``aers events record --out-dir`` against the WAV it wrote."""
    nodes = {"limiter": LIM, "delay": "{type: delay, params: {samples: 100}}"}
    config = chain_config(tmp_path, nodes)
    log = tmp_path / "log.jsonl"
    result = run_cli("events", "record", config, "--out", log, "--out-dir", tmp_path / "out")
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    assert "1 played, 1 unplayed" in result.err  # type: ignore[attr-defined]
    audio, rate = sf.read(tmp_path / "out" / "main.wav", dtype="float32", always_2d=True)
    assert rate == 48000
    entries = {e["id"]: e for e in read_event_log(log, 48000).entries}
    assert steps(entries["click"])["main"][0] == first_nonzero(audio.T) == AT + 148
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()[1:]]
    late = next(line for line in lines if line["id"] == "late")
    assert late["status"] == "unplayed" and late["path"] == [] and late["peak_db"] is None
