from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from aers_host import ParamEvent
from aers_host._nodetype import CheckContext
from aers_host.dsp import Delay, delay_samples
from aers_host.dsp._delay import DELAY

Render = Callable[..., np.ndarray]


def reference(x: np.ndarray, d: int, feedback: float, mix: float) -> np.ndarray:
    """The documented recurrence, one sample at a time in plain Python floats."""
    y = np.zeros_like(x, dtype=np.float64)
    for c in range(x.shape[0]):
        w: list[float] = []
        for n in range(x.shape[1]):
            wet = w[n - d] if n >= d else 0.0
            w.append(float(x[c, n]) + feedback * wet)
            y[c, n] = (1 - mix) * float(x[c, n]) + mix * wet
    return y


@pytest.mark.parametrize("block", [64, 512, 4096])
def test_impulse_lands_exactly_at_d(block: int, render: Render) -> None:
    d = Delay(1234)
    d.prepare(48000, block, 2)
    x = np.zeros((2, 5000), np.float32)
    x[:, 0] = 1.0
    out = render(d, x, block)
    assert np.flatnonzero(out[0]).tolist() == [1234]
    assert out[1, 1234] == 1.0
    assert d.latency_samples == 0


@pytest.mark.parametrize(("fb", "mix"), [(0.5, 1.0), (-0.7, 0.3), (0.95, 0.5)])
@pytest.mark.parametrize("block", [64, 512])
def test_feedback_matches_reference_loop(fb: float, mix: float, block: int, render: Render) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3000)).astype(np.float32)
    d = Delay(100, feedback=fb, mix=mix)
    d.prepare(44100, block, 2)
    assert np.abs(render(d, x, block) - reference(x, 100, fb, mix)).max() <= 1e-6


def test_delay_shorter_than_block() -> None:
    x = np.random.default_rng(1).standard_normal((1, 1000)).astype(np.float32)
    d = Delay(3, feedback=0.5, mix=0.5)
    d.prepare(48000, 1000, 1)
    out = np.zeros_like(x)
    d.process(x, out, 0, ())
    assert np.abs(out - reference(x, 3, 0.5, 0.5)).max() <= 1e-6


def test_zero_delay_is_a_wire() -> None:
    d = Delay(0, feedback=0.9)
    d.prepare(48000, 64, 1)
    x = np.random.default_rng(2).standard_normal((1, 64)).astype(np.float32)
    out = np.zeros_like(x)
    d.process(x, out, 0, ())
    assert np.array_equal(out, x)


def test_feedback_read_write_equals_process() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4096)).astype(np.float32)
    a, b = Delay(600, feedback=0.6, mix=0.7), Delay(600, feedback=0.6, mix=0.7)
    a.prepare(48000, 512, 2)
    b.prepare(48000, 512, 2)
    out_a, out_b = np.zeros_like(x), np.zeros_like(x)
    for s in range(0, 4096, 512):
        events = [ParamEvent(100, "feedback", 0.2)] if s == 1024 else []
        blk = x[:, s : s + 512]
        a.process(blk, out_a[:, s : s + 512], s, events)
        b.feedback_read(blk, out_b[:, s : s + 512], s, events)
        b.feedback_write(blk)
    assert np.array_equal(out_a, out_b)
    assert b.min_feedback_delay == 600


def test_feedback_read_refuses_blocks_longer_than_delay() -> None:
    d = Delay(100)
    d.prepare(48000, 512, 1)
    x = np.zeros((1, 512), np.float32)
    with pytest.raises(ValueError, match="cannot close a cycle"):
        d.feedback_read(x, np.zeros_like(x), 0, ())
    long = Delay(10000)
    long.prepare(48000, 512, 1)
    y = np.zeros((1, 1024), np.float32)
    with pytest.raises(ValueError, match="does not fit"):
        long.feedback_read(y, np.zeros_like(y), 0, ())


def test_feedback_write_without_read_is_a_bug() -> None:
    d = Delay(1000)
    d.prepare(48000, 512, 1)
    with pytest.raises(RuntimeError):
        d.feedback_write(np.zeros((1, 512), np.float32))


def test_cycle_through_two_phase_api_matches_recurrence() -> None:
    """A cycle x → (+) → delay → out, delay → gain 0.5 → (+): y = delay(x + 0.5·y)."""
    d = Delay(512)
    d.prepare(48000, 512, 1)
    x = np.zeros((1, 4096), np.float32)
    x[0, 0] = 1.0
    y = np.zeros_like(x)
    for s in range(0, 4096, 512):
        d.feedback_read(np.zeros((1, 512), np.float32), y[:, s : s + 512], s, ())
        d.feedback_write(x[:, s : s + 512] + 0.5 * y[:, s : s + 512])
    assert np.flatnonzero(y[0]).tolist() == [512, 1024, 1536, 2048, 2560, 3072, 3584]
    assert y[0, 1024] == 0.5


def test_ms_and_samples() -> None:
    assert delay_samples({"ms": 250}, 48000) == 12000
    assert delay_samples({"ms": 10}, 44100) == 441
    assert delay_samples({"samples": 7}, 44100) == 7
    assert delay_samples({}, 44100) == 0
    proc = DELAY.create({"ms": 10, "mix": 0.5}, CheckContext(44100, 512, Path(".")))
    proc.prepare(44100, 512, 1)
    assert isinstance(proc, Delay) and proc.delay == 441 and proc.values["mix"] == 0.5


@pytest.mark.parametrize(
    "params", [{"samples": -1}, {"ms": -5}, {"samples": 10, "ms": 2}, {"feedback": 1.5}]
)
def test_schema_refuses(params: dict[str, float]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(params, DELAY.params_schema())


def test_state_resumes_bit_exactly(render: Render) -> None:
    x = np.random.default_rng(4).standard_normal((2, 4096)).astype(np.float32)
    whole = Delay(300, feedback=0.5, mix=0.5)
    whole.prepare(48000, 512, 2)
    ref = render(whole, x, 512)
    first = Delay(300, feedback=0.5, mix=0.5)
    first.prepare(48000, 512, 2)
    render(first, x[:, :2048], 512)
    second = Delay(300, feedback=0.5, mix=0.5)
    second.prepare(48000, 512, 2)
    second.set_state(json.loads(json.dumps(first.get_state())))
    assert np.array_equal(render(second, x[:, 2048:], 512, start=2048), ref[:, 2048:])
