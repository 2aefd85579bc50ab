"""Native output matches the independent Python references within 1e-5, at any block size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aers_host.native import load_native_plugin

from . import reference_eq, reference_reverb
from .conftest import CTX, run_blocks, verified

TOLERANCE = 1e-5


def _noise(channels: int, frames: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal((channels, frames))).astype(np.float32)


@pytest.mark.parametrize("block", [64, 512])
@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_eq_matches_reference(libs: dict[str, Path], block: int, filter_type: int):
    values = {"filter_type": float(filter_type), "freq": 800.0, "gain_db": 9.0, "q": 1.3}
    # Changes land mid-block for both block sizes (offsets 37 and 100 into a block).
    events = [(1000 + 37, "freq", 3000.0), (2048 + 100, "gain_db", -6.0), (3001, "q", 0.5)]
    x = _noise(2, 4096)
    proc = load_native_plugin(verified(libs["native_eq"]), values, CTX)
    proc.prepare(48000, block, 2)
    got = run_blocks(proc, x, block, events)
    want = reference_eq.render(x, 48000, values, events)
    assert np.max(np.abs(got - want)) <= TOLERANCE


@pytest.mark.parametrize("block", [64, 512])
def test_eq_saturation_and_type_switch_match_reference(libs: dict[str, Path], block: int):
    values = {"gain_db": 12.0, "drive_db": 12.0, "saturation": 0.7}
    events = [
        (700, "filter_type", 2.0),
        (1500, "saturation", 0.0),
        (2500, "saturation", 1.0),
        (3000, "drive_db", 30.0),
    ]
    x = _noise(3, 4096, seed=2)  # an odd channel count exercises the single-lane path
    proc = load_native_plugin(verified(libs["native_eq"]), values, CTX)
    proc.prepare(44100, block, 3)
    got = run_blocks(proc, x, block, events)
    want = reference_eq.render(x, 44100, values, events)
    assert np.max(np.abs(got - want)) <= TOLERANCE


def test_eq_stepped_param_is_rounded_and_values_clamped(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_eq"]), {"gain_db": 6.0}, CTX)
    proc.prepare(48000, 256, 1)
    x = _noise(1, 1024)
    got = run_blocks(proc, x, 256, [(300, "filter_type", 1.6), (600, "gain_db", 99.0)])
    want = reference_eq.render(
        x, 48000, {"gain_db": 6.0}, [(300, "filter_type", 2.0), (600, "gain_db", 24.0)]
    )
    assert np.max(np.abs(got - want)) <= TOLERANCE
    assert proc.get_state()["params"]["filter_type"] == 2.0
    assert proc.get_state()["params"]["gain_db"] == 24.0


@pytest.mark.parametrize("block", [64, 512])
def test_reverb_matches_reference(libs: dict[str, Path], block: int):
    values = {"room_size": 0.8, "damping": 0.3, "wet": 0.4, "dry": 0.6, "width": 0.7}
    events = [(1500 + 37, "room_size", 0.95), (2600 + 100, "width", 0.2), (3333, "damping", 0.9)]
    x = _noise(2, 4800)
    x[:, 2400:] = 0.0  # let the tail ring through the feedback paths
    proc = load_native_plugin(verified(libs["native_reverb"]), values, CTX)
    proc.prepare(48000, block, 2)
    got = run_blocks(proc, x, block, events)
    want = reference_reverb.Freeverb(48000, 2, **values).render(x, events)
    assert np.max(np.abs(got - want)) <= TOLERANCE
    assert np.max(np.abs(got[:, 3000:])) > 1e-3  # the tail is really there


def test_reverb_mono_matches_reference(libs: dict[str, Path]):
    x = _noise(1, 3000)
    proc = load_native_plugin(verified(libs["native_reverb"]), {"wet": 0.5}, CTX)
    proc.prepare(44100, 128, 1)
    got = run_blocks(proc, x, 128, [(1000, "dry", 0.0)])
    want = reference_reverb.Freeverb(44100, 1, wet=0.5).render(x, [(1000, "dry", 0.0)])
    assert np.max(np.abs(got - want)) <= TOLERANCE
