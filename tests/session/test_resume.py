"""Restore is exact: render N s, save, resume in a new process for N s == one 2N s render."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry

from aers_host import load_config
from aers_host.graph import render
from aers_host.session import SessionStore, session_config, session_from_state

AERS = str(Path(sys.executable).with_name("aers"))

#: Every stateful built-in: sources with phase/seed, EQ memories, a feedback delay line,
#: compressor envelope, reverb buffers, limiter lookahead (whose latency makes the planner
#: put a compensation line on the dry path into `final`), and automation across the cut.
GRAPH = """
    sample_rate: 48000
    block_size: 512
    duration: 1.0
    nodes:
      tone:  {type: sine, params: {freq: 331, level_db: -12}}
      hiss:  {type: noise, params: {level_db: -24, seed: 11, color: pink}}
      eq1:   {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 4, q: 1.2},
                                         {type: lowshelf, freq: 150, gain_db: -3, q: 0.7}]}}
      g:     {type: gain, params: {gain_db: -3, smoothing_ms: 20},
              automation: {gain_db: [[0, -3], [0.2, -20, linear], [0.7, -1, exp]]}}
      bus:   {type: mix}
      echo:  {type: delay, params: {samples: 4000, feedback: 0.45, mix: 1.0}}
      comp:  {type: compressor, params: {threshold_db: -24, ratio: 4, attack_ms: 5}}
      verb:  {type: reverb, params: {room_size: 0.7}}
      lim:   {type: limiter, params: {threshold_db: -6, lookahead_ms: 3}}
      final: {type: mix}
      out:   {type: output}
    connections:
      - {from: tone, to: eq1}
      - {from: hiss, to: g}
      - {from: eq1, to: bus}
      - {from: g, to: bus, gain_db: -6}
      - {from: bus, to: echo}
      - {from: echo, to: bus, gain_db: -3}
      - {from: bus, to: comp}
      - {from: comp, to: verb}
      - {from: verb, to: lim}
      - {from: lim, to: final}
      - {from: bus, to: final, gain_db: -12}
      - {from: final, to: out}
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(GRAPH).lstrip(), encoding="utf-8")
    return path


def test_resume_in_process_is_bit_exact_per_node(
    registry: Registry, config_path: Path, tmp_path: Path
) -> None:
    """Each stateful processor on its own path: names the one whose state is incomplete."""
    cfg = load_config(config_path, registry=registry)
    full = render(cfg, registry, out_dir=None, capture=True, duration=1.0)
    first = render(cfg, registry, out_dir=None, capture=True, duration=0.5)
    assert first.state["edges"], "the graph should exercise a compensation line"
    saved = session_from_state("x", cfg, first.state, registry)
    with SessionStore(tmp_path / "s.db") as store:
        store.save(saved)
        loaded = store.load("x")
    second = render(
        session_config(loaded, registry), registry, out_dir=None, capture=True,
        duration=0.5, initial_state=loaded.engine_state(),
    )  # fmt: skip
    joined = np.concatenate([first.captured["out"], second.captured["out"]], axis=1)
    if not np.array_equal(joined, full.captured["out"]):
        bad = np.flatnonzero(np.any(joined != full.captured["out"], axis=0))[0]
        pytest.fail(f"resume differs from the continuous render from sample {bad}")


def test_resume_in_a_new_process_is_bit_exact(
    registry: Registry,
    config_path: Path,
    tmp_path: Path,
    aers_home: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    full = render(load_config(config_path, registry=registry), registry, out_dir=None,
                  capture=True, duration=1.0).captured["out"].T  # fmt: skip
    first = run_cli("render", str(config_path), "--duration", "0.5", "--out-dir",
                    str(tmp_path / "a"), "--save-session", "half")  # fmt: skip
    assert first.code == 0, first.err
    run = subprocess.run(  # a fresh interpreter: nothing survives but the session store
        [AERS, "render", "--resume", "half", "--duration", "0.5", "--out-dir", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    a, _ = sf.read(tmp_path / "a" / "out.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "b" / "out.wav", dtype="float32")
    assert a.shape == b.shape == (24000, 2)
    assert np.array_equal(np.concatenate([a, b]), full)
    assert np.abs(full).max() > 0.01  # not trivially silent
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["session"] == {"name": "half", "version": 1, "position": 24000}


def test_resume_with_the_config_argument_and_chained_saves(
    registry: Registry,
    config_path: Path,
    tmp_path: Path,
    aers_home: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """Three renders of 1/3 s chained through one session name equal one 1 s render."""
    full = render(load_config(config_path, registry=registry), registry, out_dir=None,
                  capture=True, duration=1.0).captured["out"]  # fmt: skip
    parts = []
    for i in range(3):
        args = ["render", "--duration", "0.3333333333", "--out-dir", str(tmp_path / str(i)),
                "--save-session", "chain"]  # fmt: skip
        args += ["--resume", "chain", str(config_path)] if i else [str(config_path)]
        result = run_cli(*args)
        assert result.code == 0, result.err
        parts.append(sf.read(tmp_path / str(i) / "out.wav", dtype="float32")[0])
    joined = np.concatenate(parts).T
    assert np.array_equal(joined, full[:, : joined.shape[1]])


def test_resume_of_a_missing_session_is_a_clear_error(aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("render", "--resume", "nope", "--duration", "0.1")
    assert result.code == 1
    assert "no session named 'nope'" in result.err and "Traceback" not in result.err


def test_render_without_config_or_resume_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("render", "--duration", "0.1").code == 2


def test_state_that_does_not_fit_the_graph_is_refused(
    registry: Registry, config_path: Path
) -> None:
    from aers_host.errors import GraphError

    cfg = load_config(config_path, registry=registry)
    state = render(cfg, registry, out_dir=None, duration=0.1).state
    with pytest.raises(GraphError, match="names node 'ghost'"):
        render(cfg, registry, out_dir=None, duration=0.1,
               initial_state={**state, "nodes": {"ghost": {}}})  # fmt: skip
    smaller = load_config(config_path, registry=registry, overrides={"block_size": 256})
    edges = {k: [{**e, "line": [row[:10] for row in e["line"]]} for e in v]
             for k, v in state["edges"].items()}  # fmt: skip
    with pytest.raises(GraphError, match="compensation line 1 of node 'final' does not fit"):
        render(smaller, registry, out_dir=None, duration=0.1,
               initial_state={"edges": edges})  # fmt: skip
