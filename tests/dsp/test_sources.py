from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from rates import EDGE_RATES, RATES

from aers_host import ParamEvent
from aers_host._nodetype import ChannelError, CheckContext
from aers_host.dsp import Impulse, Noise, Sine

Render = Callable[..., np.ndarray]
N = 20000


def generate(proc: Any, fs: int, block: int, render: Render, frames: int = N,
             start: int = 0, events: tuple[ParamEvent, ...] = ()) -> np.ndarray:
    proc.prepare(fs, block, 0)
    return render(proc, np.zeros((0, frames), np.float32), block, proc.out_channels,
                  events=events, start=start)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Sine(freq=997.0, level_db=-6.0, phase=0.25, channels=2),
        lambda: Noise(seed=7, channels=2),
        lambda: Noise(seed=7, color="pink", channels=3),
        lambda: Impulse(at=100, every=999, channels=2),
    ],
    ids=["sine", "white", "pink", "impulse"],
)
@pytest.mark.parametrize("fs", RATES)
def test_block_size_invariant(make: Callable[[], Any], fs: int, render: Render) -> None:
    a, b, c = (generate(make(), fs, blk, render) for blk in (64, 512, 4096))
    assert np.array_equal(a, b) and np.array_equal(b, c)
    assert np.any(a != 0)


@pytest.mark.parametrize("fs", RATES)
def test_sine_matches_formula(fs: int, render: Render) -> None:
    start = 10 * fs + 123  # the phase follows the absolute index
    out = generate(Sine(freq=440.0, level_db=-12.0, phase=0.1, channels=1), fs, 512, render,
                   frames=4096, start=start)
    n = np.arange(start, start + 4096, dtype=np.float64)
    ref = 10 ** (-12 / 20) * np.sin(2 * np.pi * (440.0 * n / fs + 0.1))
    assert np.abs(out[0] - ref).max() < 1e-6


def test_sine_freq_change_is_continuous_and_block_invariant(render: Render) -> None:
    ev = (ParamEvent(1000, "freq", 880.0),)
    outs = [generate(Sine(freq=440.0, level_db=0.0, channels=1), 48000, blk, render, 4096,
                     events=ev) for blk in (64, 4096)]
    assert np.array_equal(outs[0], outs[1])
    y = outs[0][0]
    # the slope never exceeds what the higher frequency allows: no phase jump
    assert np.abs(np.diff(y)).max() <= 2 * math.pi * 880 / 48000 * 1.01


@pytest.mark.parametrize("fs", (*RATES, *EDGE_RATES))
def test_sine_nyquist_checker(fs: int, node_types: dict[str, Any]) -> None:
    ctx = CheckContext(fs, 512, Path("."))
    nyquist = fs // 2
    issues = node_types["sine"].check({"freq": nyquist}, ctx)
    assert [i.path for i in issues] == ["freq"]
    assert issues[0].message == (
        f"frequency {nyquist} Hz is at or above Nyquist ({nyquist} Hz for {fs} Hz)"
    )
    assert node_types["sine"].check({"freq": nyquist - 1}, ctx) == []


def test_source_channels_rule(node_types: dict[str, Any]) -> None:
    ctx = CheckContext(48000, 512, Path("."))
    assert node_types["sine"].output_channels({}, None, ctx) == 2
    assert node_types["noise"].output_channels({"channels": 5}, None, ctx) == 5
    with pytest.raises(ChannelError):
        node_types["impulse"].output_channels({}, 2, ctx)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"channels": 9}, node_types["sine"].params_schema())


def test_noise_seeded_reproducible_and_distinct(render: Render) -> None:
    a = generate(Noise(seed=1, level_db=0.0), 48000, 512, render)
    b = generate(Noise(seed=1, level_db=0.0), 48000, 512, render)
    c = generate(Noise(seed=2, level_db=0.0), 48000, 512, render)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # channels are independent streams
    assert np.abs(a).max() <= 1.0
    assert abs(float(np.mean(a))) < 0.02
    assert abs(float(np.std(a)) - 1 / math.sqrt(3)) < 0.01  # uniform in [-1, 1)
    assert abs(np.corrcoef(a[0], a[1])[0, 1]) < 0.03


def test_noise_random_access_from_any_start(render: Render) -> None:
    whole = generate(Noise(seed=3), 48000, 512, render)
    tail = generate(Noise(seed=3), 48000, 512, render, frames=N - 5000, start=5000)
    assert np.array_equal(whole[:, 5000:], tail)


@pytest.mark.parametrize("fs", (44100, 48000))
def test_pink_noise_falls_3db_per_octave(fs: int, render: Render) -> None:
    """Kellet's filter has fixed coefficients, designed for 44.1 kHz: pink at 44.1/48 kHz.

    (docs/config.md says so; at higher rates its band moves up with the rate.)
    """
    from scipy import signal

    y = generate(Noise(seed=5, color="pink", level_db=0.0, channels=1), fs, 4096, render,
                 frames=fs * 4)
    f, p = signal.welch(y[0], fs, nperseg=8192)
    band = lambda lo: float(np.mean(p[(f >= lo) & (f < 2 * lo)]))  # noqa: E731
    slopes = [10 * np.log10(band(2 * lo) / band(lo)) for lo in (100, 400, 1600, 6400)]
    assert all(-4.5 < s < -1.5 for s in slopes), slopes


def test_pink_state_resumes(render: Render) -> None:
    whole = generate(Noise(seed=9, color="pink"), 48000, 512, render)
    first = Noise(seed=9, color="pink")
    generate(first, 48000, 512, render, frames=8192)
    second = Noise(seed=9, color="pink")
    second.prepare(48000, 512, 0)
    second.set_state(json.loads(json.dumps(first.get_state())))
    tail = render(second, np.zeros((0, N - 8192), np.float32), 512, 2, start=8192)
    assert np.array_equal(whole[:, 8192:], tail)


def test_impulse_exact_positions(render: Render) -> None:
    out = generate(Impulse(at=1234, level_db=-6.0, channels=2), 48000, 512, render)
    assert np.flatnonzero(out[0]).tolist() == [1234]
    assert out[1, 1234] == np.float32(10 ** (-6 / 20))
    rep = generate(Impulse(at=10, every=4000, channels=1), 48000, 64, render)
    assert np.flatnonzero(rep[0]).tolist() == [10, 4010, 8010, 12010, 16010]
    late = generate(Impulse(at=10, every=4000, channels=1), 48000, 64, render, frames=100,
                    start=8000)
    assert np.flatnonzero(late[0]).tolist() == [10]
