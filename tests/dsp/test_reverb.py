from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from rates import RATES

from aers_host import ParamEvent
from aers_host._nodetype import ChannelError, CheckContext
from aers_host.dsp import Reverb

Render = Callable[..., np.ndarray]
KW = {"room_size": 0.7, "damping": 0.3, "wet_level": 0.5, "dry_level": 0.6, "width": 0.8}


def burst(channels: int, frames: int, seed: int = 0) -> np.ndarray:
    x = np.zeros((channels, frames), np.float32)
    x[:, :4000] = np.random.default_rng(seed).standard_normal((channels, 4000)) * 0.3
    return x


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_smoke_tail_and_energy_decay(fs: int, channels: int, render: Render) -> None:
    x = np.zeros((channels, fs * 2), np.float32)
    x[:, 0] = 1.0
    rev = Reverb(dry_level=0.0)
    rev.prepare(fs, 512, channels)
    y = render(rev, x, 512).astype(np.float64)
    assert np.all(np.isfinite(y))
    assert np.all(y[:, :1000] == 0.0)  # shortest comb+allpass path is > 1000 samples
    frames = [float(np.sum(y[:, i : i + fs // 4] ** 2)) for i in range(fs // 4, 2 * fs, fs // 4)]
    assert frames[0] > 0
    assert all(b < a for a, b in itertools.pairwise(frames))  # energy decays
    assert frames[-1] < frames[0] * 1e-2


def test_dry_only_is_scaled_input(render: Render) -> None:
    x = burst(2, 5000)
    rev = Reverb(wet_level=0.0, dry_level=0.5)
    rev.prepare(48000, 512, 2)
    assert np.array_equal(render(rev, x, 512), x)  # dry gain 2·0.5 = 1, wet 0


def test_block_invariant_with_automation(render: Render) -> None:
    x = burst(2, 20000)
    ev = [ParamEvent(5000, "room_size", 0.9), ParamEvent(9000, "width", 0.2)]
    outs = []
    for block in (64, 512, 4096):
        rev = Reverb(**KW)
        rev.prepare(48000, block, 2)
        outs.append(render(rev, x, block, events=ev))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])


def test_state_resumes_bit_exactly(render: Render) -> None:
    x = burst(2, 20000)
    whole = Reverb(**KW)
    whole.prepare(44100, 512, 2)
    ref = render(whole, x, 512)
    first, second = Reverb(**KW), Reverb(**KW)
    first.prepare(44100, 512, 2)
    render(first, x[:, :6144], 512)
    second.prepare(44100, 512, 2)
    second.set_state(json.loads(json.dumps(first.get_state())))
    assert np.array_equal(render(second, x[:, 6144:], 512, start=6144), ref[:, 6144:])


def test_channel_rule(node_types: dict[str, Any]) -> None:
    from pathlib import Path

    ctx = CheckContext(48000, 512, Path("."))
    assert node_types["reverb"].output_channels({}, 1, ctx) == 1
    assert node_types["reverb"].output_channels({}, 2, ctx) == 2
    with pytest.raises(ChannelError):
        node_types["reverb"].output_channels({}, 4, ctx)


@pytest.mark.slow
@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kw", [{}, KW, {"freeze_mode": 1.0, "room_size": 0.2}])
def test_matches_pedalboard(fs: int, channels: int, kw: dict[str, float], render: Render) -> None:
    pedalboard = pytest.importorskip("pedalboard")
    x = burst(channels, fs)
    ref = pedalboard.Reverb(**kw)(x, fs)
    rev = Reverb(**kw)
    rev.prepare(fs, 512, channels)
    out = render(rev, x, 512)
    # same algorithm, same float32 operation order: bit-identical in practice
    assert np.abs(out - ref).max() <= 1e-6
