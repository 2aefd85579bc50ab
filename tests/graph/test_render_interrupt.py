"""Ctrl-C during a render keeps what was rendered, and ``aers run`` reports it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from graphs import SINE, Registry, graph
from signal_masks import DEFAULT_SIGINT

from aers_host import load_config
from aers_host.graph import render
from aers_host.graph._render import RenderInterrupted

BLOCK = 512
CONFIG = graph(SINE, version=1, block_size=BLOCK, duration=20)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


def test_an_interrupted_render_writes_the_blocks_it_finished(
    config: Path, tmp_path: Path, registry: Registry
) -> None:
    def ctrl_c_after_three_blocks(done: int, total: int) -> None:
        if done == 3 * BLOCK:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(RenderInterrupted) as info:
        render(load_config(config, registry=registry), registry, out_dir=out,
               progress=ctrl_c_after_three_blocks)  # fmt: skip
    assert isinstance(info.value, KeyboardInterrupt)  # callers that do not know it still stop
    assert info.value.result.frames == 3 * BLOCK
    audio, rate = sf.read(out / "main.wav", dtype="float32")
    assert rate == 48000 and len(audio) == 3 * BLOCK  # the buffered blocks were not lost
    expected = 10 ** (-6 / 20) * np.sin(2 * np.pi * 440 * np.arange(3 * BLOCK) / 48000)
    np.testing.assert_allclose(audio[:, 0], expected, atol=1e-4)


def test_ctrl_c_of_aers_run_keeps_audio_and_metrics(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    aers = str(Path(sys.executable).with_name("aers"))
    proc = subprocess.Popen(
        [*DEFAULT_SIGINT, aers, "run", str(config), "--out-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "main.wav").exists():  # the run has started writing
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and "interrupted" in err, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    frames = sf.info(str(out / "main.wav")).frames
    assert 0 < frames < 20 * 48000
    assert metrics["blocks"] == -(-frames // BLOCK)
