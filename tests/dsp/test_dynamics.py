from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry
from rates import RATES

from aers_host import ParamEvent
from aers_host.dsp import Compressor, Limiter, limiter_latency_samples

Render = Callable[..., np.ndarray]


def compressor_reference(x: np.ndarray, fs: int, thr: float, ratio: float, attack: float,
                         release: float, knee: float = 0.0, makeup: float = 0.0,
                         rms: bool = False) -> np.ndarray:
    """Plain-Python sample loop of the documented compressor."""
    def cte(ms: float) -> float:
        return 0.0 if ms < 1e-3 else math.exp(-2 * math.pi * 1000 / (fs * ms))

    at, rt = cte(attack), cte(release)
    env = 0.0
    y = np.zeros(x.shape, np.float64)
    for n in range(x.shape[1]):
        col = [float(v) for v in x[:, n]]
        d = max(v * v for v in col) if rms else max(abs(v) for v in col)
        k = at if d > env else rt
        env = d + k * (env - d)
        if env <= 0.0:
            gain_db = makeup
        else:
            level = (10 if rms else 20) * math.log10(env)
            if 2 * (level - thr) < -knee:
                out = level
            elif knee > 0 and 2 * abs(level - thr) <= knee:
                out = level + (1 / ratio - 1) * (level - thr + knee / 2) ** 2 / (2 * knee)
            else:
                out = thr + (level - thr) / ratio
            gain_db = out - level + makeup
        g = 10 ** (gain_db / 20)
        y[:, n] = [v * g for v in col]
    return y


def program(fs: int, frames: int, seed: int = 0) -> np.ndarray:
    """Bursts of noise at different levels, so attack, release and the knee all act."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, frames)) * 0.05
    for s, level in ((2000, 0.8), (9000, 0.3), (15000, 1.5)):
        x[:, s : s + 3000] *= level / 0.05
    x[1] *= 0.5
    return x.astype(np.float32)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"threshold_db": -24.0, "ratio": 8.0, "attack_ms": 1.0, "release_ms": 50.0, "knee_db": 6.0,
         "makeup_db": 3.0},
        {"threshold_db": -12.0, "ratio": 2.0, "attack_ms": 0.0, "release_ms": 300.0},
    ],
)
@pytest.mark.parametrize("fs", RATES)
def test_compressor_matches_reference(kw: dict[str, float], fs: int, render: Render) -> None:
    x = program(fs, 20000)
    full = {"threshold_db": -18.0, "ratio": 4.0, "attack_ms": 5.0, "release_ms": 100.0, **kw}
    ref = compressor_reference(x, fs, full["threshold_db"], full["ratio"], full["attack_ms"],
                               full["release_ms"], full.get("knee_db", 0.0),
                               full.get("makeup_db", 0.0))
    outs = []
    for block in (64, 512):
        comp = Compressor(**kw)
        comp.prepare(fs, block, 2)
        outs.append(render(comp, x, block))
    assert np.array_equal(outs[0], outs[1])
    assert np.abs(outs[0] - ref).max() <= 1e-5
    assert np.abs(outs[0][:, 15000:18000]).max() < np.abs(x[:, 15000:18000]).max()


def test_rms_detector_matches_reference(render: Render) -> None:
    x = program(48000, 12000, seed=1)
    comp = Compressor(detector="rms", threshold_db=-20.0, knee_db=10.0)
    comp.prepare(48000, 256, 2)
    ref = compressor_reference(x, 48000, -20.0, 4.0, 5.0, 100.0, 10.0, rms=True)
    assert np.abs(render(comp, x, 256) - ref).max() <= 1e-5


def test_compressor_state_resumes(render: Render) -> None:
    x = program(48000, 20000)
    whole = Compressor()
    whole.prepare(48000, 512, 2)
    ref = render(whole, x, 512)
    first, second = Compressor(), Compressor()
    first.prepare(48000, 512, 2)
    render(first, x[:, :10240], 512)
    second.prepare(48000, 512, 2)
    second.set_state(json.loads(json.dumps(first.get_state())))
    assert np.array_equal(render(second, x[:, 10240:], 512, start=10240), ref[:, 10240:])


@pytest.mark.slow
def test_compressor_matches_pedalboard_on_mono() -> None:
    pedalboard = pytest.importorskip("pedalboard")
    x = program(44100, 20000)[:1]
    pb = pedalboard.Compressor(threshold_db=-18, ratio=4, attack_ms=5, release_ms=100)
    comp = Compressor()
    comp.prepare(44100, 20000, 1)
    out = np.zeros_like(x)
    comp.process(x, out, 0, ())
    assert np.abs(out - pb(x, 44100)).max() < 1e-5  # JUCE runs in float32; we run in float64


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("lookahead", [0.0, 1.0, 5.0])
def test_limiter_never_exceeds_threshold(fs: int, lookahead: float, render: Render) -> None:
    x = program(fs, 20000) * 3
    x[0, 5000] = 20.0  # an isolated spike
    lim = Limiter(threshold_db=-3.0, lookahead_ms=lookahead)
    lim.prepare(fs, 512, 2)
    out = render(lim, x, 512)
    assert np.abs(out).max() <= np.float32(10 ** (-3 / 20))
    assert lim.latency_samples == round(lookahead * fs / 1000)
    assert limiter_latency_samples({"lookahead_ms": lookahead}, fs) == lim.latency_samples


@pytest.mark.parametrize("block", [64, 512, 4096])
def test_limiter_transparent_is_exact_delay(block: int, render: Render) -> None:
    x = (np.random.default_rng(4).uniform(-0.5, 0.5, (2, 10000))).astype(np.float32)
    lim = Limiter(threshold_db=-1.0, lookahead_ms=5.0)
    lim.prepare(48000, block, 2)
    out = render(lim, x, block)
    d = 240
    assert lim.latency_samples == d
    assert np.all(out[:, :d] == 0.0)
    assert np.array_equal(out[:, d:], x[:, :-d])


def test_limiter_recovers_to_exact_unity_after_a_peak(render: Render) -> None:
    x = np.full((1, 48000), 0.25, np.float32)
    x[0, 1000] = 4.0
    lim = Limiter(threshold_db=-1.0, release_ms=20.0, lookahead_ms=2.0)
    lim.prepare(48000, 512, 1)
    out = render(lim, x, 512)
    d = lim.latency_samples
    assert out[0, 1000 + d] <= np.float32(10 ** (-1 / 20))
    assert out[0, 1000 + d - 50] < 0.25  # gain ramps down before the peak (lookahead)
    assert out[0, 999] == 0.25  # ...but not before the peak enters the lookahead window
    assert np.all(out[0, 30000:] == 0.25)  # released back to exactly unity
    assert np.all(np.abs(np.diff(out[0, 1001 + d : 10000])) < 0.01)  # smooth release
    assert np.all(np.abs(np.diff(out[0, 1000 : 1000 + d])) < 0.01)  # smooth attack ramp


def test_limiter_block_invariant_and_state_resumes(render: Render) -> None:
    x = program(48000, 20000) * 4
    outs = []
    for block in (64, 4096):
        lim = Limiter(threshold_db=-6.0)
        lim.prepare(48000, block, 2)
        outs.append(render(lim, x, block, events=[ParamEvent(7000, "threshold_db", -2.0)]))
    assert np.array_equal(outs[0], outs[1])
    first, second = Limiter(threshold_db=-6.0), Limiter(threshold_db=-6.0)
    first.prepare(48000, 512, 2)
    render(first, x[:, :8192], 512)
    second.prepare(48000, 512, 2)
    second.set_state(json.loads(json.dumps(first.get_state())))
    tail = render(second, x[:, 8192:], 512, start=8192, events=[ParamEvent(7000 - 8192, "x", 0)])
    whole = Limiter(threshold_db=-6.0)
    whole.prepare(48000, 512, 2)
    ref = render(whole, x, 512)
    assert np.array_equal(tail, ref[:, 8192:])


def test_compressor_side_chain_keys_the_detector(tmp_path: Path, registry: Registry) -> None:
    """A quiet signal is compressed exactly when (and only when) its key is loud."""
    import textwrap

    from aers_host import load_config
    from aers_host.graph import render

    text = """
        duration: 0.5
        nodes:
          bed:  {type: sine, params: {freq: 200, level_db: -30, channels: 2}}
          key:  {type: sine, params: {freq: 1000, level_db: -3, channels: 1}}
          comp: {type: compressor, params: {threshold_db: -20, ratio: 10, attack_ms: 1, release_ms: 50}}
          out:  {type: output}
          ref:  {type: output}
        connections:
          - {from: bed, to: comp}
          - {from: key, to: comp, port: sidechain}
          - {from: comp, to: out}
          - {from: bed, to: ref}
    """
    path = tmp_path / "sc.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    result = render(load_config(path, registry=registry), registry, out_dir=None, capture=True)
    keyed, dry = result.captured["out"], result.captured["ref"]
    # The key sits 17 dB over the threshold: at 10:1 the bed loses ~15 dB once settled.
    settled = slice(12000, 24000)
    reduction = 20 * np.log10(np.abs(keyed[:, settled]).max() / np.abs(dry[:, settled]).max())
    assert -16.5 < reduction < -14.0
    # Without the key, a -30 dB bed is below threshold: untouched.
    unkeyed_text = text.replace("          - {from: key, to: comp, port: sidechain}\n", "")
    path.write_text(textwrap.dedent(unkeyed_text).lstrip(), encoding="utf-8")
    plain = render(load_config(path, registry=registry), registry, out_dir=None, capture=True)
    assert np.array_equal(plain.captured["out"], plain.captured["ref"])


def test_side_chain_to_a_node_without_one_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import textwrap

    import pytest

    from aers_host import load_config
    from aers_host.errors import ConfigError

    text = """
        duration: 0.1
        nodes:
          a: {type: sine}
          b: {type: sine}
          g: {type: gain}
          out: {type: output}
        connections:
          - {from: a, to: g}
          - {from: b, to: g, port: sidechain}
          - {from: g, to: out}
    """
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"connections\.1\.port: 'g' \(gain\) has no side-chain input"):
        load_config(path)
