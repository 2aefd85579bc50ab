from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rates import RATES

from aers_host import ParamEvent
from aers_host._nodetype import ChannelError, CheckContext
from aers_host.dsp import Gain, Meter, Mix, Pan

Render = Callable[..., np.ndarray]
CTX = CheckContext(48000, 512, Path("."))


def test_settled_gain_is_exactly_x_times_g(render: Render) -> None:
    x = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    g = Gain(gain_db=-6.0)
    g.prepare(48000, 512, 2)
    expected = (x.astype(np.float64) * 10 ** (-6 / 20)).astype(np.float32)
    assert np.array_equal(render(g, x, 512), expected)


def test_unity_gain_is_exact_copy(render: Render) -> None:
    x = np.random.default_rng(1).standard_normal((1, 300)).astype(np.float32)
    g = Gain()
    g.prepare(48000, 64, 1)
    assert np.array_equal(render(g, x, 64), x)


def test_invert(render: Render, node_types: dict[str, Any]) -> None:
    g = node_types["gain"].create({"invert": True}, CTX)
    g.prepare(48000, 64, 1)
    x = np.ones((1, 64), np.float32)
    assert np.array_equal(render(g, x, 64), -x)


@pytest.mark.parametrize("fs", RATES)
def test_step_is_smooth_and_settles_exactly(fs: int, render: Render) -> None:
    x = np.ones((1, fs // 2), np.float32)
    step = ParamEvent(1000, "gain_db", -20.0)
    outs = []
    for block in (64, 512, 4096):
        g = Gain(smoothing_ms=5.0)
        g.prepare(fs, block, 1)
        outs.append(render(g, x, block, events=[step]))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[1], outs[2])
    y = outs[0][0].astype(np.float64)
    target = 10 ** (-20 / 20)
    assert np.all(y[:1000] == 1.0)
    glide = y[1000:]
    assert np.all(np.diff(glide) <= 0)  # monotonic, no overshoot
    assert np.max(np.abs(np.diff(y))) < 0.01  # no jump anywhere (a click would be ~0.9)
    # time constant: after 5 ms the remaining distance is 1/e of the step
    tau = round(0.005 * fs)
    remaining = (y[1000 + tau - 1] - target) / (1 - target)
    assert abs(remaining - math.exp(-1)) < 0.01
    assert np.all(outs[0][0, -1000:] == np.float32(target))


def test_zero_smoothing_is_instant(render: Render) -> None:
    g = Gain(smoothing_ms=0.0)
    g.prepare(48000, 64, 1)
    out = render(g, np.ones((1, 128), np.float32), 64, events=[ParamEvent(10, "gain_db", -6.0)])
    assert out[0, 9] == 1.0 and out[0, 10] == np.float32(10 ** (-6 / 20))


def test_mix_identity_and_gain() -> None:
    x = np.random.default_rng(2).standard_normal((2, 64)).astype(np.float32)
    out = np.zeros_like(x)
    m = Mix()
    m.prepare(48000, 64, 2)
    m.process(x, out, 0, ())
    assert np.array_equal(out, x)
    m6 = Mix(gain_db=-6.0)
    m6.prepare(48000, 64, 2)
    m6.process(x, out, 0, ())
    assert np.allclose(out, x * 10 ** (-6 / 20), rtol=1e-6)


@pytest.mark.parametrize("pan", np.linspace(-1, 1, 9).tolist())
def test_pan_mono_is_constant_power(pan: float) -> None:
    p = Pan(pan=pan)
    p.prepare(48000, 16, 1)
    out = np.zeros((2, 16), np.float32)
    p.process(np.ones((1, 16), np.float32), out, 0, ())
    assert abs(float(out[0, 0]) ** 2 + float(out[1, 0]) ** 2 - 1.0) < 1e-6
    theta = (pan + 1) * math.pi / 4
    assert abs(out[0, 0] - math.cos(theta)) < 1e-6 and abs(out[1, 0] - math.sin(theta)) < 1e-6


def test_pan_extremes_and_stereo_balance() -> None:
    out = np.zeros((2, 4), np.float32)
    hard_left = Pan(pan=-1.0)
    hard_left.prepare(48000, 4, 1)
    hard_left.process(np.ones((1, 4), np.float32), out, 0, ())
    assert out[0, 0] == 1.0 and abs(out[1, 0]) < 1e-7
    centre = Pan()
    centre.prepare(48000, 4, 2)
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    centre.process(x, out, 0, ())
    assert np.array_equal(out, x)  # centred balance is unity
    right = Pan(pan=1.0)
    right.prepare(48000, 4, 2)
    right.process(x, out, 0, ())
    assert np.all(np.abs(out[0]) < 1e-7) and np.array_equal(out[1], x[1])


def test_pan_channel_rule(node_types: dict[str, Any]) -> None:
    pan = node_types["pan"]
    assert pan.output_channels({}, 1, CTX) == 2
    assert pan.output_channels({}, 2, CTX) == 2
    with pytest.raises(ChannelError) as err:
        pan.output_channels({}, 6, CTX)
    assert "6 channels" in err.value.message and err.value.hint


def test_meter_copies_and_measures() -> None:
    m = Meter()
    m.prepare(48000, 512, 2)
    x = np.zeros((2, 512), np.float32)
    x[0] = 0.5
    x[1, 100] = -0.9
    out = np.zeros_like(x)
    m.process(x, out, 0, [ParamEvent(10, "anything", 1.0)])
    assert np.array_equal(out, x)
    assert m.peak.tolist() == pytest.approx([0.5, 0.9])
    assert m.rms.tolist() == pytest.approx([0.5, math.sqrt(0.81 / 512)])
    m.process(x * 0.1, out, 512, ())
    assert m.peak_hold.tolist() == pytest.approx([0.5, 0.9])
    assert m.peak.tolist() == pytest.approx([0.05, 0.09])
    restored = Meter()
    restored.prepare(48000, 512, 2)
    restored.set_state(json.loads(json.dumps(m.get_state())))
    assert restored.peak_hold.tolist() == m.peak_hold.tolist()
