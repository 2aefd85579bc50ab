"""`aers render` with events, reports and exports, and `aers run` paced to the clock."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import soundfile as sf

SCENE = """
    sample_rate: 48000
    block_size: 512
    duration: 0.5
    routing: {footsteps: sfx}
    events:
      - {id: hit, category: marker, at: 12345, to: sfx, source: {generator: impulse}}
      - {id: steps, category: footsteps, time: 0.1, gain_db: -6, source: {generator: footsteps, seed: 3, steps: 2}}
    nodes:
      sfx:  {type: events, params: {channels: 2}}
      lim:  {type: limiter, params: {lookahead_ms: 1}}
      main: {type: output}
    connections:
      - {from: sfx, to: lim}
      - {from: lim, to: main}
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "scene.yaml"
    path.write_text(textwrap.dedent(SCENE).lstrip(), encoding="utf-8")
    return path


def test_render_plays_events_and_writes_every_export(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    result = run_cli(
        "render",
        write(tmp_path),
        "--out-dir",
        out,
        "--report",
        "--csv",
        out / "series.csv",
        "--prometheus",
        out / "metrics.prom",
        "--event-log",
        out / "events.jsonl",
    )
    assert result.code == 0, result.err
    audio, _ = sf.read(out / "main.wav", dtype="float32")
    latency = round(0.001 * 48000)
    # Footsteps start at 0.1 s, delayed by the limiter's lookahead; nothing sounds before.
    assert not audio[: 4800 + latency].any() and audio[4800 + latency :].any()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["total_latency_samples"] == latency
    assert metrics["events"]["count"] == 2
    assert (out / "report.html").read_text().count("data:image/png;base64") >= 3
    assert (out / "series.csv").read_text().count("\n") > 10
    assert "# TYPE" in (out / "metrics.prom").read_text()
    records = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line]
    hit = next(r for r in records if r.get("id") == "hit")
    # The impulse enters its bus on sample 12345 and leaves the output lookahead later.
    assert hit["path"][0] == {"node": "sfx", "in": 12345, "out": 12345}
    assert hit["path"][-1] == {"node": "main", "in": 12345 + latency, "out": 12345 + latency}


def test_replay_reproduces_the_render_bit_exactly(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    config = write(tmp_path)
    first, second = tmp_path / "a", tmp_path / "b"
    assert (
        run_cli("render", config, "--out-dir", first, "--event-log", tmp_path / "log.jsonl").code
        == 0
    )
    assert (
        run_cli("render", config, "--out-dir", second, "--replay", tmp_path / "log.jsonl").code == 0
    )
    a, _ = sf.read(first / "main.wav", dtype="float32")
    b, _ = sf.read(second / "main.wav", dtype="float32")
    assert np.array_equal(a, b) and np.abs(a).max() > 0


def test_run_paces_to_the_wall_clock(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    import time

    t0 = time.perf_counter()
    result = run_cli("run", write(tmp_path), "--duration", "0.3", "--out-dir", tmp_path / "run")
    elapsed = time.perf_counter() - t0
    assert result.code == 0, result.err
    assert elapsed >= 0.3  # paced: never faster than real time
    assert "deadline misses" in result.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    printed = int(result.out.split(" deadline misses")[0].rsplit(" ", 1)[-1])
    assert metrics["deadline_misses"] == printed  # the file says what the terminal said
    fill = metrics["buffer_fill"]
    assert 0.0 <= fill["min_percent"] <= fill["mean_percent"] <= 100.0
