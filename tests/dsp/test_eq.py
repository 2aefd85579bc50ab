from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rates import RATES
from scipy import signal

from aers_host import ParamEvent
from aers_host._nodetype import CheckContext
from aers_host.dsp import Eq, rbj_sos
from aers_host.dsp._eq import EQ

Render = Callable[..., np.ndarray]


def cookbook(kind: str, f0: float, gain: float, q: float, fs: float) -> np.ndarray:
    """RBJ cookbook, written out independently of aers_host (straight from the text)."""
    A = 10 ** (gain / 40)
    w0 = 2 * math.pi * f0 / fs
    c, s = math.cos(w0), math.sin(w0)
    al = s / (2 * q)
    sq = 2 * math.sqrt(A) * al
    table = {
        "peak": ([1 + al * A, -2 * c, 1 - al * A], [1 + al / A, -2 * c, 1 - al / A]),
        "lowshelf": (
            [A * ((A + 1) - (A - 1) * c + sq), 2 * A * ((A - 1) - (A + 1) * c),
             A * ((A + 1) - (A - 1) * c - sq)],
            [(A + 1) + (A - 1) * c + sq, -2 * ((A - 1) + (A + 1) * c), (A + 1) + (A - 1) * c - sq],
        ),
        "highshelf": (
            [A * ((A + 1) + (A - 1) * c + sq), -2 * A * ((A - 1) + (A + 1) * c),
             A * ((A + 1) + (A - 1) * c - sq)],
            [(A + 1) - (A - 1) * c + sq, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - sq],
        ),
        "lowpass": ([(1 - c) / 2, 1 - c, (1 - c) / 2], [1 + al, -2 * c, 1 - al]),
        "highpass": ([(1 + c) / 2, -(1 + c), (1 + c) / 2], [1 + al, -2 * c, 1 - al]),
        "bandpass": ([al, 0.0, -al], [1 + al, -2 * c, 1 - al]),
        "notch": ([1.0, -2 * c, 1.0], [1 + al, -2 * c, 1 - al]),
    }
    b, a = table[kind]
    return np.array([[*(v / a[0] for v in b), 1.0, a[1] / a[0], a[2] / a[0]]])


def db_at(sos: np.ndarray, f: float, fs: float) -> float:
    _, h = signal.sosfreqz(sos, worN=[f], fs=fs)
    return float(20 * np.log10(abs(h[0])))


KINDS = ["peak", "lowshelf", "highshelf", "lowpass", "highpass", "bandpass", "notch"]


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("kind", KINDS)
def test_rbj_sos_matches_cookbook_response(kind: str, fs: int) -> None:
    band = {"type": kind, "freq": 1000.0, "gain_db": 6.0, "q": 0.9}
    ours, ref = rbj_sos(band, fs), cookbook(kind, 1000.0, 6.0, 0.9, fs)
    for f in (50.0, 500.0, 1000.0, 2000.0, 10000.0):
        if kind == "notch" and f == 1000.0:
            continue  # -inf dB at the notch
        assert abs(db_at(ours, f, fs) - db_at(ref, f, fs)) < 0.05


@pytest.mark.parametrize(
    ("kind", "f", "expected_db"),
    [
        ("peak", 1000.0, 3.0),  # peak gain at f0
        ("lowshelf", 20.0, 3.0),  # shelf gain far below f0
        ("highshelf", 20000.0, 3.0),
        ("lowshelf", 1000.0, 1.5),  # shelves are at half gain (dB) at f0
        ("highshelf", 1000.0, 1.5),
        ("lowpass", 1000.0, -3.0103),  # Butterworth Q: -3 dB at the corner
        ("highpass", 1000.0, -3.0103),
        ("bandpass", 1000.0, 0.0),  # constant 0 dB peak gain
    ],
)
@pytest.mark.parametrize("fs", RATES)
def test_analytic_gains(kind: str, f: float, expected_db: float, fs: int) -> None:
    band = {"type": kind, "freq": 1000.0, "gain_db": 3.0, "q": 1 / math.sqrt(2)}
    assert abs(db_at(rbj_sos(band, fs), f, fs) - expected_db) < 0.05


@pytest.mark.parametrize("block", [64, 512, 4096])
@pytest.mark.parametrize("fs", RATES)
def test_blocks_equal_one_sosfilt(block: int, fs: int, render: Render) -> None:
    bands = [
        {"type": "peak", "freq": 1000.0, "gain_db": 3.0, "q": 1.0},
        {"type": "highpass", "freq": 80.0},
        {"type": "highshelf", "freq": 8000.0, "gain_db": -4.0, "q": 0.7},
    ]
    x = np.random.default_rng(0).standard_normal((2, 10000)).astype(np.float32) * 0.3
    sos = np.vstack([cookbook(b["type"], b["freq"], b.get("gain_db", 0.0), b.get("q", 0.707), fs)
                     for b in bands])
    ref = signal.sosfilt(sos, x.astype(np.float64), axis=1)
    eq = Eq(bands)
    eq.prepare(fs, block, 2)
    assert np.abs(render(eq, x, block) - ref).max() <= 1e-5


def test_no_bands_is_exact_copy(render: Render) -> None:
    eq = Eq([])
    eq.prepare(48000, 64, 1)
    x = np.random.default_rng(1).standard_normal((1, 200)).astype(np.float32)
    assert np.array_equal(render(eq, x, 64), x)


def test_band_automation_retunes_at_the_event_sample(render: Render) -> None:
    eq = Eq([{"type": "peak", "freq": 1000.0, "gain_db": 0.0}])
    eq.prepare(48000, 512, 1)
    x = np.random.default_rng(2).standard_normal((1, 1024)).astype(np.float32)
    out = render(eq, x, 512, events=[ParamEvent(700, "bands.0.gain_db", 6.0)])
    assert np.allclose(out[:, :700], x[:, :700], atol=1e-6)  # 0 dB peak: identity
    assert not np.allclose(out[:, 700:], x[:, 700:], atol=1e-3)
    assert eq.bands[0]["gain_db"] == 6.0


def ctx(fs: int = 48000) -> CheckContext:
    return CheckContext(sample_rate=fs, block_size=512, base_dir=Path("."), node_id="eq1")


def test_checker_reports_nyquist_with_path_and_hint() -> None:
    issues = EQ.check({"bands": [{"type": "peak", "freq": 1000}, {"type": "peak", "freq": 30000}]},
                      ctx())
    assert len(issues) == 1
    assert issues[0].path == "bands.1.freq"
    assert issues[0].message == "frequency 30000 Hz is at or above Nyquist (24000 Hz for 48000 Hz)"
    assert issues[0].hint


def test_checker_nyquist_at_44100_and_bad_q_and_zero_freq() -> None:
    issues = EQ.check(
        {"bands": [{"type": "peak", "freq": 22050}, {"type": "lowpass", "freq": 0},
                   {"type": "peak", "freq": 100, "q": 0}]},
        ctx(44100),
    )
    paths = [i.path for i in issues]
    assert paths == ["bands.0.freq", "bands.1.freq", "bands.2.q"]
    assert "22050 Hz for 44100 Hz" in issues[0].message


def test_state_resumes_bit_exactly(render: Render) -> None:
    import json

    bands = [{"type": "lowpass", "freq": 500.0, "q": 2.0}]
    x = np.random.default_rng(3).standard_normal((2, 2048)).astype(np.float32)
    whole = Eq(bands)
    whole.prepare(48000, 512, 2)
    ref = render(whole, x, 512)
    first = Eq(bands)
    first.prepare(48000, 512, 2)
    render(first, x[:, :1024], 512)
    second = Eq(bands)
    second.prepare(48000, 512, 2)
    second.set_state(json.loads(json.dumps(first.get_state())))
    assert np.array_equal(render(second, x[:, 1024:], 512, start=1024), ref[:, 1024:])
