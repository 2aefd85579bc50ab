"""Tests for the tremolo plugin, run in-process (the host also runs them from tests/plugins).

Run here with: python -B -m pytest -p no:cacheprovider test_tremolo.py
"""

import importlib.util
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent


def make(rate_hz=5.0, depth=0.5, block=512):
    spec = importlib.util.spec_from_file_location("tremolo", HERE / "tremolo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.Tremolo()
    plugin.params = {"rate_hz": rate_hz, "depth": depth}  # what the host sets
    plugin.prepare(48000, block, 2)
    return plugin


def render(block, frames=4800, **params):
    plugin = make(block=block, **params)
    inp = np.ones((2, frames), np.float32)
    out = np.zeros_like(inp)
    for lo in range(0, frames, block):
        hi = min(lo + block, frames)
        plugin.process(inp[:, lo:hi], out[:, lo:hi], lo, ())
    return out


def test_depth_zero_passes_the_signal():
    assert np.array_equal(render(512, depth=0.0), np.ones((2, 4800), np.float32))


def test_full_depth_dips_to_silence_half_a_cycle_in():
    out = render(512, rate_hz=10.0, depth=1.0)  # period: 4800 samples
    assert out[0, 0] == 1.0
    assert abs(out[0, 2400]) < 1e-6


def test_output_does_not_depend_on_block_size():
    assert np.array_equal(render(64, rate_hz=3.0), render(1000, rate_hz=3.0))


def test_block_at_an_offset_continues_the_waveform():
    whole = render(4800, rate_hz=7.0)
    plugin = make(rate_hz=7.0, block=100)
    inp = np.ones((2, 100), np.float32)
    out = np.zeros_like(inp)
    plugin.process(inp, out, 3000, ())
    assert np.array_equal(out, whole[:, 3000:3100])
