"""JAMS annotations: every event's fields, onsets in output time, regeneration, overlap caps."""

from __future__ import annotations

import json
from pathlib import Path

import jams
import numpy as np
import pytest
from dataset_scenes import LINEAR, NONLINEAR, render_mix, write
from graphs import LoadGraph, Registry

from aers_host.dataset import NAMESPACE, load_jams, polyphony, scene_from_jams, write_dataset
from aers_host.errors import ConfigError
from aers_host.events import generate_scene, write_scene

SCENE_GRAPH = """
    duration: 8.0
    routing: {footsteps: sfx, explosion: boom, dialogue: dlg, ambience: amb}
    scene: scene.jsonl
    nodes:
      sfx:  {type: events, params: {channels: 2}}
      boom: {type: events, params: {channels: 2}}
      dlg:  {type: events, params: {channels: 2}}
      amb:  {type: events, params: {channels: 2}}
      bus:  {type: mix}
      out:  {type: output}
    connections:
      - {from: sfx, to: bus}
      - {from: boom, to: bus}
      - {from: dlg, to: bus}
      - {from: amb, to: bus}
      - {from: bus, to: out}
"""


def annotated(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path, text: str, mode: str = "exact"
) -> jams.JAMS:
    cfg = load_graph(text)
    _, path = write_dataset(
        cfg, registry, tmp_path / "out", mode=mode, config_path=tmp_path / "graph.yaml"
    )
    assert path == tmp_path / "out" / "graph.jams"
    return load_jams(path)


def test_annotation_lists_every_event_with_what_regenerates_it(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    jam = annotated(registry, load_graph, tmp_path, LINEAR)
    anns = jam.search(namespace=NAMESPACE)
    assert sorted(a.sandbox.aers_output for a in anns) == ["dlg_out", "main"]
    main = next(a for a in anns if a.sandbox.aers_output == "main")
    values = {obs.value["id"]: obs for obs in main.data}
    assert set(values) == {"a1", "s1", "s2", "b1", "d1", "bed"}
    boom = values["b1"].value
    assert boom["label"] == boom["category"] == "explosion"
    assert boom["at"] == round(0.50001 * 48000) and boom["to"] == "sfx"
    assert boom["gain_db"] == -2.0 and boom["pan"] == 0.0
    assert boom["source"] == {"generator": "explosion", "seed": 3, "decay_s": 0.8}
    assert boom["stem"] == "stems/main/events/b1.wav"
    assert [step["node"] for step in boom["path"]] == ["sfx", "verb", "bus", "main"]
    assert values["a1"].value["role"] == "background"
    stolen = values["s1"]
    assert stolen.value["status"] == "stolen" and stolen.value["stolen_by"] == "b1"
    assert stolen.duration == pytest.approx((stolen.value["end"] - stolen.value["at"]) / 48000)


def test_file_metadata_and_sandbox_hold_config_and_rate(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    jam = annotated(registry, load_graph, tmp_path, LINEAR)
    config = str((tmp_path / "graph.yaml").resolve())
    assert jam.file_metadata.identifiers.aers_config == config
    assert jam.file_metadata.identifiers.sample_rate == 48000
    assert jam.file_metadata.duration == 1.5
    meta = jam.sandbox.aers
    assert (meta["config"], meta["sample_rate"], meta["seed"]) == (config, 48000, 3)
    assert meta["frames"] == 72000 and len(meta["config_sha256"]) == 64


def test_onset_is_where_the_event_sounds_in_the_output(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    jam = annotated(registry, load_graph, tmp_path, NONLINEAR, mode="residual")
    latency = jam.sandbox.aers["total_latency"]
    assert latency > 0  # the lookahead limiter delays every path (compensated)
    for obs in jam.annotations[0].data:
        assert obs.time == pytest.approx((obs.value["at"] + latency) / 48000)
        assert obs.value["event_time"] == obs.time


def test_scene_regenerated_from_jams_renders_bit_identically(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    annotated(registry, load_graph, tmp_path, LINEAR)
    write_scene(scene_from_jams(tmp_path / "out" / "graph.jams"), tmp_path / "regen.jsonl")
    without_events = LINEAR.split("    events:")[0] + "    scene: regen.jsonl\n"
    regenerated = load_graph(without_events, name="regen.yaml")
    original, again = render_mix(registry, cfg), render_mix(registry, regenerated)
    for output in original:
        assert np.array_equal(original[output], again[output]), output


def test_regenerated_records_keep_frames_and_start_order(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    annotated(registry, load_graph, tmp_path, LINEAR)
    records = scene_from_jams(tmp_path / "out" / "graph.jams")
    assert [r["id"] for r in records] == ["a1", "s1", "s2", "b1", "bed", "d1"]  # start order
    only = scene_from_jams(tmp_path / "out" / "graph.jams", output="dlg_out")
    assert [r["id"] for r in only] == ["d1"]  # the events that reach that output
    assert round(records[0]["duration"] * 48000) == 72000
    assert "duration" not in records[1]  # natural length stays natural


def test_generated_scene_honours_max_polyphony_in_the_annotation(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    capped = generate_scene("mixed", 30, seed=11, duration=6.0, max_polyphony=2)
    write_scene(capped, tmp_path / "scene.jsonl")
    jam = annotated(registry, load_graph, tmp_path, SCENE_GRAPH, mode="pre")
    peaks = polyphony(obs.value for obs in jam.annotations[0].data)
    assert set(peaks) == {"footsteps", "explosion", "dialogue", "ambience"}
    assert max(peaks.values()) <= 2, peaks
    first = jam.annotations[0].data[0].value
    assert first["stem"] == f"stems-pre/{first['to']}/events/{first['id']}.wav"
    uncapped = generate_scene("mixed", 30, seed=11, duration=6.0)
    write_scene(uncapped, tmp_path / "scene.jsonl")
    jam = annotated(registry, load_graph, tmp_path, SCENE_GRAPH, mode="pre")
    assert max(polyphony(obs.value for obs in jam.annotations[0].data).values()) > 2


def test_polyphony_counts_touching_events_as_sequential() -> None:
    values = [
        {"category": "fx", "at": 0, "end": 10},
        {"category": "fx", "at": 10, "end": 20},
        {"category": "fx", "at": 5, "end": 5},  # dropped: never sounded
        {"category": "vo", "at": 0, "end": 30},
        {"category": "vo", "at": 29, "end": 40},
    ]
    assert polyphony(values) == {"fx": 1, "vo": 2}


def test_from_jams_refuses_another_format(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    annotated(registry, load_graph, tmp_path, LINEAR)
    path = tmp_path / "out" / "graph.jams"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["sandbox"]["aers"]["format"] = 2
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="format 2 is not 1"):
        scene_from_jams(path)


def test_from_jams_names_the_annotated_outputs(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    annotated(registry, load_graph, tmp_path, LINEAR)
    with pytest.raises(ConfigError, match=r"outputs annotated: (main, dlg_out|dlg_out, main)"):
        scene_from_jams(tmp_path / "out" / "graph.jams", output="nope")


def test_from_jams_reports_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path, "{not json", "broken.jams")
    with pytest.raises(ConfigError, match="cannot read JAMS"):
        scene_from_jams(path)
