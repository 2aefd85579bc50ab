"""Gain reduction of compressor, limiter and duck: per block, read from the audio itself.

The reference is the processor's own output divided by its input (delayed by the
limiter's lookahead): the smallest ``|out / in|`` in a block is the deepest gain the node
applied there, whatever its internals say.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry

from aers_host import load_config
from aers_host._pipeline import render_run
from aers_host.dsp import Compressor, Limiter
from aers_host.events import Duck

SR, BLOCK = 48000, 512


def bursts(seconds: float = 1.0) -> np.ndarray:
    """A 1 kHz tone switching between -30 and -3 dBFS every 0.25 s (quiet first)."""
    t = np.arange(round(seconds * SR)) / SR
    level = np.where((t // 0.25) % 2 == 1, 10 ** (-3 / 20), 10 ** (-30 / 20))
    return np.stack([level * np.sin(2 * np.pi * 1000 * t)] * 2).astype(np.float32)


def run_blocks(proc, x: np.ndarray, lag: int = 0):  # type: ignore[no-untyped-def]
    """(reported gain per block, reference gain per block from out/in)."""
    out = np.zeros_like(x)
    reported = []
    for start in range(0, x.shape[1], BLOCK):
        proc.min_gain[0] = 1.0
        proc.process(x[:, start : start + BLOCK], out[:, start : start + BLOCK], start, ())
        reported.append(float(proc.min_gain[0]))
    delayed = np.concatenate([np.zeros((2, lag), np.float32), x[:, : x.shape[1] - lag]], axis=1)
    audible = np.abs(delayed) > 1e-3
    ratio = np.where(audible, np.abs(out) / np.where(audible, np.abs(delayed), 1.0), np.inf)
    reference = [
        min(1.0, float(ratio[:, s : s + BLOCK].min())) for s in range(0, x.shape[1], BLOCK)
    ]
    return np.array(reported), np.array(reference)


def test_compressor_reports_the_gain_it_applied() -> None:
    comp = Compressor(threshold_db=-18.0, ratio=4.0, attack_ms=1.0, release_ms=50.0)
    comp.prepare(SR, BLOCK, 2)
    reported, reference = run_blocks(comp, bursts())
    # out/in only samples the gain where the tone is not near a zero crossing: the
    # reported gain is the envelope's, so it may only be deeper, and by little
    assert np.all(reported <= reference + 1e-6)
    np.testing.assert_allclose(reported, reference, atol=0.01)
    # the static curve: 15 dB over the threshold at 4:1 → 11.25 dB of reduction
    assert -20 * math.log10(reported.min()) == pytest.approx(11.25, abs=0.3)
    assert reported[:20].min() == 1.0  # the -30 dBFS part is under the threshold


def test_limiter_reports_the_gain_it_applied() -> None:
    lim = Limiter(threshold_db=-6.0, release_ms=20.0, lookahead_ms=2.0)
    lim.prepare(SR, BLOCK, 2)
    reported, reference = run_blocks(lim, bursts(), lag=lim.latency_samples)
    assert np.all(reported <= reference + 1e-6)
    np.testing.assert_allclose(reported, reference, atol=0.02)
    assert -20 * math.log10(reported.min()) == pytest.approx(3.0, abs=0.1)


def test_duck_reports_the_gain_it_applied() -> None:
    duck = Duck(depth_db=12.0, threshold_db=-20.0, attack_ms=5.0, release_ms=50.0, hold_ms=0.0)
    key = bursts()
    duck.set_sidechain(np.zeros((2, BLOCK), np.float32))
    duck.prepare(SR, BLOCK, 2)
    music = np.full_like(key, 0.1)
    out = np.zeros_like(music)
    reported = []
    for start in range(0, music.shape[1], BLOCK):
        frames = min(BLOCK, music.shape[1] - start)
        duck._sc[:, :frames] = key[:, start : start + frames]  # type: ignore[index]
        duck.min_gain[0] = 1.0
        duck.process(music[:, start : start + frames], out[:, start : start + frames], start, ())
        reported.append(float(duck.min_gain[0]))
    reference = [float((out[:, s : s + BLOCK] / 0.1).min()) for s in range(0, out.shape[1], BLOCK)]
    np.testing.assert_allclose(reported, reference, rtol=1e-6)
    assert -20 * math.log10(min(reported)) == pytest.approx(12.0, abs=0.1)


CONFIG = """\
duration: 1.0
nodes:
  tone: {type: sine, params: {freq: 1000, level_db: -3}}
  comp: {type: compressor, params: {threshold_db: -18, ratio: 4, attack_ms: 1}}
  main: {type: output}
connections:
  - {from: tone, to: comp}
  - {from: comp, to: main}
"""


def test_render_reports_gain_reduction_per_block_and_at_most(
    tmp_path: Path, registry: Registry
) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    outcome = render_run(load_config(path, registry=registry), registry, out_dir=tmp_path)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["nodes"]["comp"]["gain_reduction_max_db"] == pytest.approx(11.25, abs=0.3)
    assert "gain_reduction_max_db" not in written["nodes"]["tone"]
    assert outcome.metrics["outputs"]["main"]["loudness_range_lu"] == pytest.approx(0, abs=0.1)
