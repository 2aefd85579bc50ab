"""``aers render --stems…`` and ``aers events from-jams`` through the real entry point."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

CONFIG = """
    duration: 1.0
    routing: {footsteps: sfx, dialogue: dlg}
    nodes:
      sfx:  {type: events, params: {channels: 2}}
      dlg:  {type: events, params: {channels: 2}}
      verb: {type: reverb, params: {room_size: 0.5}}
      bus:  {type: mix}
      out:  {type: output}
    connections:
      - {from: sfx, to: verb}
      - {from: verb, to: bus}
      - {from: dlg, to: bus}
      - {from: bus, to: out}
    events:
      - {id: st1, category: footsteps, time: 0.1, gain_db: -3,
         source: {generator: footsteps, seed: 1, steps: 3}}
      - {id: dl1, category: dialogue, time: 0.3, source: {generator: dialogue, seed: 2, words: 3}}
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def read(path: Path) -> Any:
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return data


def test_stems_sum_to_the_recorded_mix_and_jams_regenerates_the_scene(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    result = run_cli("render", config, "--out-dir", tmp_path / "out", "--stems")
    assert result.code == 0, result.err
    assert "2 event stems (exact" in result.err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["stems"]["within_tolerance"] is True
    # the reference mix: `aers events record` renders the same config with its events
    record = run_cli(
        "events", "record", config, "--out", tmp_path / "log.jsonl", "--out-dir", tmp_path / "mix"
    )
    assert record.code == 0, record.err
    mix = read(tmp_path / "mix" / "out.wav")
    assert np.array_equal(read(tmp_path / "out" / "out.wav"), mix)  # render plays the scene too
    folder = tmp_path / "out" / "stems" / "out"
    parts = [folder / "bed.wav", *(folder / "events").glob("*.wav")]
    peak = float(np.max(np.abs(mix - sum(read(p) for p in parts))))
    assert peak == 0.0 or 20 * math.log10(peak) <= -120.0
    scene = tmp_path / "regen.jsonl"
    regen = run_cli("events", "from-jams", tmp_path / "out" / "graph.jams", "--out", scene)
    assert regen.code == 0, regen.err
    ids = [json.loads(line)["id"] for line in scene.read_text(encoding="utf-8").splitlines()]
    assert ids == ["st1", "dl1"]


def test_exact_stems_of_a_nonlinear_graph_exit_1_naming_the_node(
    run_cli: Callable[..., Any], tmp_path: Path
) -> None:
    text = CONFIG.replace(
        "{type: reverb, params: {room_size: 0.5}}",
        "{type: compressor, params: {threshold_db: -30, ratio: 4}}",
    )
    result = run_cli("render", write_config(tmp_path, text), "--out-dir", tmp_path / "o", "--stems")
    assert result.code == 1
    assert "verb (compressor: level-dependent gain)" in result.err
    assert "--stems-residual" in result.err
    assert not (tmp_path / "o").exists()  # refused before rendering anything


def test_two_stem_flags_are_a_usage_error(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    result = run_cli("render", write_config(tmp_path), "--stems", "--stems-pre")
    assert result.code == 2
