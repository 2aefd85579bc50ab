"""`aers validate`, `aers graph` and `aers render` as a user runs them."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import soundfile as sf

CONFIG = """
    sample_rate: 44100
    block_size: 256
    duration: 0.25
    nodes:
      imp: {type: impulse, params: {at: 100, channels: 2}}
      lim: {type: limiter, params: {lookahead_ms: 2}}
      dly: {type: delay, params: {samples: 50}}
      bus: {type: mix}
      main: {type: output, params: {path: main.wav}}
      alt: {type: output, params: {subtype: PCM_24}}
    connections:
      - {from: imp, to: lim}
      - {from: imp, to: dly}
      - {from: lim, to: bus}
      - {from: dly, to: bus, gain_db: -6}
      - {from: bus, to: main}
      - {from: dly, to: alt}
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_validate_ok(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("validate", write(tmp_path))
    assert result.code == 0, result.err
    assert "6 nodes" in result.out


def test_paths_print_as_written_not_as_emoji(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "take:smile:"
    folder.mkdir()
    result = run_cli("validate", write(folder))
    assert result.code == 0, result.err
    smile = "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}"  # what rich makes of :smile:
    assert "take:smile:" in result.out and smile not in result.out


def test_validate_prints_every_problem_located(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    bad = CONFIG.replace("44100", "4000").replace("type: delay", "type: dely")
    path = write(tmp_path, bad)
    result = run_cli("validate", path)
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert len(lines) == 2
    pattern = re.compile(rf"^{re.escape(str(path))}:\d+: [\w.]+: .+")
    assert all(pattern.match(line) for line in lines), lines
    assert any("sample_rate: 4000 is too small: must be >= 8000" in line for line in lines)
    assert any(
        "nodes.dly.type: unknown node type 'dely' (did you mean 'delay'?)" in line for line in lines
    )
    assert "Traceback" not in result.err


def test_validate_json(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("validate", write(tmp_path, CONFIG.replace("to: bus}", "to: buss}")), "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False and report["problems"][0]["path"].startswith("connections.")


def test_graph_table_and_latency(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("graph", write(tmp_path), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    by_id = {row["id"]: row for row in report["nodes"]}
    lookahead = round(0.002 * 44100)
    assert by_id["lim"]["latency_samples"] == lookahead
    assert by_id["bus"]["compensation"] == {"dly": lookahead}
    assert report["total_latency_samples"] == lookahead
    order = [row["id"] for row in report["nodes"]]
    assert order.index("imp") < order.index("lim") < order.index("bus") < order.index("main")
    table = run_cli("graph", write(tmp_path))
    assert f"total latency: {lookahead} samples" in table.out


def test_graph_dot(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("graph", write(tmp_path), "--dot")
    assert result.code == 0
    assert result.out.startswith("digraph aers {") and result.out.rstrip().endswith("}")
    assert '"imp" -> "lim";' in result.out and '"dly" -> "bus" [label="-6 dB"];' in result.out


def test_render_writes_outputs_and_metrics(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "render"
    result = run_cli("render", write(tmp_path), "--out-dir", out_dir)
    assert result.code == 0, result.err
    main, rate = sf.read(out_dir / "main.wav", dtype="float32")
    alt_info = sf.info(str(out_dir / "alt.wav"))
    assert rate == 44100 and main.shape == (round(0.25 * 44100), 2)
    assert alt_info.subtype == "PCM_24"
    lookahead = round(0.002 * 44100)
    # Both paths are aligned at the bus: the impulse (100) and its 50-sample echo,
    # both late by the limiter's lookahead.
    hits = np.flatnonzero(np.abs(main[:, 0]) > 1e-6).tolist()
    assert hits == [100 + lookahead, 150 + lookahead]
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["total_latency_samples"] == lookahead
    assert set(metrics["nodes"]) == {"imp", "lim", "dly", "bus", "main", "alt"}
    for node in metrics["nodes"].values():
        assert 0 <= node["p50_us"] <= node["p99_us"] <= node["max_us"]
    assert metrics["realtime_factor"] > 0 and metrics["wall_seconds"] > 0


def test_render_overrides_duration_and_block(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out_dir = tmp_path / "render"
    result = run_cli(
        "render", write(tmp_path), "--out-dir", out_dir, "--duration", "0.1", "--block-size", "64"
    )
    assert result.code == 0, result.err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["frames"] == 4410 and metrics["block_size"] == 64


def test_render_refuses_bad_config_without_traceback(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "render",
        write(tmp_path, CONFIG.replace("block_size: 256", "block_size: 7")),
        "--out-dir",
        tmp_path / "o",
    )
    assert result.code == 1
    assert "block_size: 7 is too small" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_render_without_length_explains(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "render",
        write(tmp_path, CONFIG.replace("duration: 0.25", "seed: 1")),
        "--out-dir",
        tmp_path / "o",
    )
    assert result.code == 1
    assert "--duration" in result.err


def test_validate_checks_the_scene_file_too(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "scene.jsonl").write_text(
        '{"id": "a", "category": "x", "time": 0.1, "to": "sfx", "source": {"generator": "impulse"}}\n'
        '{"id": "b", "category": "x", "time": NaN, "to": "sfx", "source": {"generator": "impulse"}}\n',
        encoding="utf-8",
    )
    text = """
        duration: 1
        scene: scene.jsonl
        nodes:
          sfx: {type: events}
          out: {type: output}
        connections:
          - {from: sfx, to: out}
    """
    result = run_cli("validate", write(tmp_path, text))
    assert result.code == 1
    assert result.out.strip() == f"{tmp_path / 'scene.jsonl'}:2: events.1.time: must be a finite number (NaN and infinity are not)"
