"""``aers render`` with a plugin that hangs for good: exit 1, the node and samples named, audio kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from sandbox._graphs import own_segments, worker_pids

#: The scaffold's gain plugin, made to spin for good from sample 9600 (0.2 s) on.
STALL = """
import math

import numpy as np


class Stall:
    def process(self, inp, out, start, events):
        while start >= 9600:
            pass
        np.multiply(inp, math.pow(10.0, self.params["gain_db"] / 20.0), out=out)
"""
CONFIG = """
version: 1
duration: 0.5
block_size: 480
nodes:
  tone: {type: sine, params: {freq: 440, level_db: -6}}
  st: {type: stall, hang_limit_s: 1.5}
  main: {type: output, params: {subtype: FLOAT}}
connections:
  - {from: tone, to: st}
  - {from: st, to: main}
"""


@pytest.fixture
def stall_config(tmp_path: Path, install_plugin: Any) -> Path:
    """A signed, installed python plugin ``stall`` that hangs, and a config using it."""
    install_plugin("stall", STALL)
    path = tmp_path / "stall.yaml"
    path.write_text(CONFIG)
    return path


def test_a_hung_plugin_fails_the_render_but_keeps_its_audio(
    stall_config: Path, tmp_path: Path, run_cli: Any
) -> None:
    workers, segments = worker_pids(), own_segments()
    out = tmp_path / "out"
    result = run_cli("render", stall_config, "--out-dir", out)
    assert result.code == 1
    (line,) = [x for x in result.err.splitlines() if x.startswith("error: node")]
    assert line.startswith(
        "error: node 'st': failed after 1 restart (hang in process at sample 9600"
    )
    assert line.endswith("its fallback played for 0.30 s (14400 samples from sample 9600)")
    assert "--allow-fallback" in result.err
    audio, _ = sf.read(out / "main.wav", dtype="float32")
    assert audio.shape[0] == 24_000 and np.abs(audio[:9600]).max() > 0.4  # rendered part kept
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["timing_mode"] == "offline" and metrics["substituted_nodes"] == ["st"]
    assert metrics["nodes"]["st"]["substituted"]["ranges"] == [[9600, 24_000]]
    assert worker_pids() <= workers and own_segments() <= segments


def test_allow_fallback_keeps_exit_0_and_still_warns(
    stall_config: Path, tmp_path: Path, run_cli: Any
) -> None:
    result = run_cli(
        "render",
        stall_config,
        "--out-dir",
        tmp_path / "out",
        "--allow-fallback",
        "--hang-limit",
        "5",
    )
    assert result.code == 0
    assert "warning: node 'st': failed after 1 restart" in result.err
