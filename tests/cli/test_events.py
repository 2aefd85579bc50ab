"""``aers events generate|record|generators`` through the real entry point."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from aers_host.events import load_scene, read_event_log

CONFIG = """
    duration: 2.0
    routing: {footsteps: sfx, explosion: sfx, dialogue: sfx, ambience: amb}
    scene: scene.jsonl
    nodes:
      sfx: {type: events, params: {channels: 2}, max_voices: 2}
      amb: {type: events, params: {channels: 2}}
      lim: {type: limiter, params: {threshold_db: -1, lookahead_ms: 1}}
      bus: {type: mix}
      out: {type: output}
    connections:
      - {from: sfx, to: lim}
      - {from: lim, to: bus}
      - {from: amb, to: bus}
      - {from: bus, to: out}
"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


def test_generate_writes_a_scene_load_scene_accepts(
    run_cli: Callable[..., object], tmp_path: Path
) -> None:
    out = tmp_path / "scene.jsonl"
    result = run_cli(
        "events",
        "generate",
        "--kind",
        "footsteps",
        "--count",
        "5",
        "--seed",
        "3",
        "--out",
        out,
        "--duration",
        "4",
        "--max-polyphony",
        "1",
        "--to",
        "sfx",
    )
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    events = load_scene(out, 48000)
    assert len(events) == 5 and {e.category for e in events} == {"footsteps"}
    again = tmp_path / "again.jsonl"
    run_cli(
        "events",
        "generate",
        "--kind",
        "footsteps",
        "--count",
        "5",
        "--seed",
        "3",
        "--out",
        again,
        "--duration",
        "4",
        "--max-polyphony",
        "1",
        "--to",
        "sfx",
    )
    assert again.read_bytes() == out.read_bytes()


def test_generate_to_stdout(run_cli: Callable[..., object]) -> None:
    result = run_cli("events", "generate", "--kind", "impulse", "--count", "2")
    assert result.code == 0  # type: ignore[attr-defined]
    lines = result.out.splitlines()  # type: ignore[attr-defined]
    assert [json.loads(line)["category"] for line in lines] == ["impulse", "impulse"]


def test_generate_refuses_an_unknown_kind(run_cli: Callable[..., object]) -> None:
    result = run_cli("events", "generate", "--kind", "rain", "--count", "2")
    assert result.code == 2  # type: ignore[attr-defined]
    assert "mixed" in result.err  # type: ignore[attr-defined]


def test_generators_lists_params(run_cli: Callable[..., object]) -> None:
    result = run_cli("events", "generators")
    assert result.code == 0  # type: ignore[attr-defined]
    assert "cadence_hz=1.8" in result.out and "needs duration" in result.out  # type: ignore[attr-defined]


def test_record_then_replay_is_bit_exact(run_cli: Callable[..., object], tmp_path: Path) -> None:
    config = write_config(tmp_path)
    run_cli(
        "events",
        "generate",
        "--kind",
        "mixed",
        "--count",
        "8",
        "--seed",
        "11",
        "--duration",
        "1.5",
        "--out",
        tmp_path / "scene.jsonl",
    )
    log = tmp_path / "run.jsonl"
    first = run_cli("events", "record", config, "--out", log, "--out-dir", tmp_path / "a")
    assert first.code == 0, first.err  # type: ignore[attr-defined]
    assert "8 events" in first.err  # type: ignore[attr-defined]
    parsed = read_event_log(log, 48000)
    assert parsed.header["total_latency"] == 48 and len(parsed.events) == 8
    sfx = next(e for e in parsed.entries if e["to"] == "sfx")
    lim = next(step for step in sfx["path"] if step["node"] == "lim")
    assert lim["out"] - lim["in"] == 48
    second = run_cli(
        "events",
        "record",
        config,
        "--out",
        tmp_path / "again.jsonl",
        "--replay",
        log,
        "--out-dir",
        tmp_path / "b",
        "--block-size",
        "64",
    )
    assert second.code == 0, second.err  # type: ignore[attr-defined]
    a, _ = sf.read(tmp_path / "a" / "out.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "b" / "out.wav", dtype="float32")
    assert np.count_nonzero(a) > 0 and np.array_equal(a, b)


def test_record_without_events_is_a_user_error(
    run_cli: Callable[..., object], tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace("scene: scene.jsonl\n", ""), encoding="utf-8"
    )
    result = run_cli("events", "record", config, "--out", tmp_path / "log.jsonl")
    assert result.code == 1  # type: ignore[attr-defined]
    assert "error:" in result.err and "no events" in result.err  # type: ignore[attr-defined]


def test_record_reports_bad_scene_lines(run_cli: Callable[..., object], tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "scene.jsonl").write_text(
        json.dumps(
            {"id": "a", "category": "footsteps", "at": 0, "source": {"generator": "footsteps"}}
        )
        + "\n"
        + json.dumps(
            {"id": "b", "category": "footsteps", "time": -1, "source": {"generator": "footsteps"}}
        )
        + "\n",
        encoding="utf-8",
    )
    result = run_cli("events", "record", config, "--out", tmp_path / "log.jsonl")
    assert result.code == 1  # type: ignore[attr-defined]
    assert "scene.jsonl:2: events.1.time" in result.err  # type: ignore[attr-defined]


def test_help_lists_every_scene_kind() -> None:
    from aers_host.cli._events import KINDS_HELP
    from aers_host.events import SCENE_KINDS

    assert KINDS_HELP.split(", ") == list(SCENE_KINDS)
