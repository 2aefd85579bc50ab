"""`aers validate` lists everything in one pass, including what `render` would refuse.

Issue 21, item 2: no phase hides another (params that fail the schema still get their
semantic checks, feedback delays and unconnected inputs are named beside other problems,
every unconnected input is named, the scene is checked while the graph is broken), a graph
without a length is refused by validate exactly as by render, and audio that reaches no
output is a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from config_helpers import problems, write
from graphs import Registry

from aers_host.config import load_config
from aers_host.errors import GraphError
from aers_host.graph import render


def _validate(
    run_cli: Callable[..., object], path: Path
) -> tuple[int, dict[str, list[dict[str, str]]]]:
    result = run_cli("validate", path, "--json")
    return result.code, json.loads(result.out)  # type: ignore[attr-defined]


def test_params_failing_the_schema_still_get_semantic_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          tone: {type: sine, params: {freq: 30000, level_db: loud}}
          out: {type: output}
        connections: [{from: tone, to: out}]
        """,
    )
    found = {p.path: p.message for p in problems(path)}
    assert "must be of type number" in found["nodes.tone.params.level_db"]
    assert "Nyquist" in found["nodes.tone.params.freq"]


def test_short_feedback_delay_named_beside_an_unknown_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          tone: {type: sine}
          mix1: {type: mix}
          dly: {type: delay, params: {samples: 10}}
          odd: {type: gian}
          out: {type: output}
        connections:
          - {from: tone, to: mix1}
          - {from: mix1, to: dly}
          - {from: dly, to: mix1}
          - {from: mix1, to: out}
        """,
    )
    found = {p.path: p.message for p in problems(path)}
    assert "unknown node type 'gian'" in found["nodes.odd.type"]
    assert "closes a feedback loop but is 10 samples long" in found["nodes.dly.params"]


def test_every_unconnected_input_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          tone: {type: sine}
          fx: {type: gain}
          p: {type: pan}
          a: {type: output}
          b: {type: output}
        connections: [{from: tone, to: a}]
        """,
    )
    unconnected = sorted(p.path for p in problems(path) if "no input connected" in p.message)
    assert unconnected == ["nodes.b", "nodes.fx", "nodes.p"]


def test_channels_checked_beside_a_top_level_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        colour: blue
        nodes:
          tone: {type: sine}
          out: {type: output}
          lost: {type: output}
        connections: [{from: tone, to: out}]
        """,
    )
    paths = {p.path for p in problems(path)}
    assert paths == {"colour", "nodes.lost"}


def test_scene_checked_while_the_graph_is_broken(
    tmp_path: Path, run_cli: Callable[..., object]
) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          ev: {type: events}
          odd: {type: gian}
          out: {type: output}
        connections: [{from: ev, to: out}]
        events:
          - {id: e1, category: footsteps, at: 0, source: {generator: nope}}
        """,
    )
    code, report = _validate(run_cli, path)
    assert code == 1
    paths = {p["path"] for p in report["problems"]}
    assert "nodes.odd.type" in paths and "events.0.source.generator" in paths


def _endless(tmp_path: Path, duration: str = "") -> Path:
    return write(
        tmp_path,
        f"""
        {duration}
        nodes:
          tone: {{type: sine}}
          out: {{type: output}}
        connections: [{{from: tone, to: out}}]
        """,
    )


def test_validate_refuses_what_render_refuses_with_the_same_reason(
    tmp_path: Path, run_cli: Callable[..., object], registry: Registry
) -> None:
    path = _endless(tmp_path)
    code, report = _validate(run_cli, path)
    assert code == 1
    (problem,) = report["problems"]
    assert problem["path"] == "duration"
    assert "--duration" in problem["hint"]
    # render (library, no validation of the length) refuses for the very same reason.
    with pytest.raises(GraphError) as info:
        render(load_config(path, registry=registry), registry, out_dir=None)
    assert problem["message"] in str(info.value)
    assert "source 'tone' (sine) never ends" in problem["message"]


def test_length_is_only_required_for_render(tmp_path: Path, registry: Registry) -> None:
    cfg = load_config(_endless(tmp_path), registry=registry)  # `aers run` needs no length
    assert cfg.duration is None
    with pytest.raises(Exception, match="never ends"):
        load_config(_endless(tmp_path), registry=registry, require_length=True)


def test_duration_or_a_finite_file_satisfies_validate(
    tmp_path: Path, run_cli: Callable[..., object]
) -> None:
    assert _validate(run_cli, _endless(tmp_path, "duration: 0.5"))[0] == 0
    sf.write(tmp_path / "a.wav", np.zeros(480, np.float32), 48000)
    finite = write(
        tmp_path,
        """
        nodes:
          src: {type: file, params: {path: a.wav}}
          out: {type: output}
        connections: [{from: src, to: out}]
        """,
        "finite.yaml",
    )
    assert _validate(run_cli, finite)[0] == 0
    looping = write(
        tmp_path,
        """
        nodes:
          src: {type: file, params: {path: a.wav, loop: true}}
          out: {type: output}
        connections: [{from: src, to: out}]
        """,
        "loop.yaml",
    )
    code, report = _validate(run_cli, looping)
    assert code == 1 and "'src' (file, loop: true) never ends" in report["problems"][0]["message"]


def test_unreached_audio_is_a_warning_not_a_failure(
    tmp_path: Path, run_cli: Callable[..., object]
) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          tone: {type: sine}
          spare: {type: noise}
          side: {type: sine}
          fx: {type: gain}
          out: {type: output}
        connections:
          - {from: tone, to: out}
          - {from: side, to: fx}
        """,
    )
    code, report = _validate(run_cli, path)
    assert code == 0 and report["ok"] is True
    warned = {w["path"]: w["message"] for w in report["warnings"]}
    assert set(warned) == {"nodes.spare", "nodes.side", "nodes.fx"}
    assert "source 'spare' is connected to nothing" in warned["nodes.spare"]
    assert "reaches no output node" in warned["nodes.side"]
    assert warned["nodes.fx"].endswith("is connected to nothing")
    text = run_cli("validate", path)
    assert text.code == 0  # type: ignore[attr-defined]
    assert "warning: " in text.out and "'spare'" in text.out  # type: ignore[attr-defined]


def test_side_chain_counts_as_reaching_the_output(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path,
        """
        duration: 1
        nodes:
          music: {type: sine}
          voice: {type: sine}
          d: {type: duck}
          out: {type: output}
        connections:
          - {from: music, to: d}
          - {from: voice, to: d, port: sidechain}
          - {from: d, to: out}
        """,
    )
    assert load_config(path, registry=registry).warnings == ()
