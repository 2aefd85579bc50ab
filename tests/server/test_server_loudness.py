"""Live loudness of the outputs against the offline BS.1770 measure and analytic peaks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aers_host.metrics._loudness import momentary_loudness, short_term_loudness
from aers_host.server._loudness import LoudnessMeters

RATE = 48000
BLOCK = 512


def feed(x: np.ndarray, block: int = BLOCK) -> list[tuple[float | None, float | None, float]]:
    """Stream ``x`` through a meter block by block (a short last block included)."""
    buf = np.zeros((x.shape[0], block), np.float32)
    meter = LoudnessMeters([buf], [0], RATE)
    for start in range(0, x.shape[1], block):
        part = x[:, start : start + block]
        buf[:, : part.shape[1]] = part
        meter.accumulate(part.shape[1])
    return meter.take()


@pytest.mark.parametrize("block", [BLOCK, 441])
def test_momentary_and_short_term_equal_the_offline_measure(block: int) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(RATE * 4) / RATE
    x = np.stack([0.3 * np.sin(2 * np.pi * 997 * t), 0.1 * rng.standard_normal(t.size)])
    x = x.astype(np.float32)
    momentary, short, _ = feed(x, block)[0]
    # The live windows end at the last complete 100 ms bucket: 4 s holds exactly 40.
    reference = x.astype(np.float64)
    assert momentary == pytest.approx(float(momentary_loudness(reference, RATE)[-1]), abs=1e-6)
    assert short == pytest.approx(float(short_term_loudness(reference, RATE)[-1]), abs=1e-6)


def test_true_peak_sees_the_peak_between_samples() -> None:
    # A quarter-rate sine sampled 45° off its crests: every sample reads 3 dB under the peak.
    t = np.arange(RATE) / RATE
    x = np.stack([0.5 * np.sin(2 * np.pi * 12000 * t + np.pi / 4)] * 2).astype(np.float32)
    sample_peak = 20 * math.log10(float(np.abs(x).max()))
    true_peak = feed(x)[0][2]
    assert sample_peak == pytest.approx(20 * math.log10(0.5) - 3.01, abs=0.05)
    assert true_peak == pytest.approx(20 * math.log10(0.5), abs=0.2)


def test_loudness_waits_for_a_full_window_and_peak_is_per_snapshot() -> None:
    t = np.arange(RATE // 5) / RATE  # 200 ms: no 400 ms window yet
    x = (0.25 * np.sin(2 * np.pi * 100 * t))[np.newaxis].astype(np.float32)
    momentary, short, peak = feed(x)[0]
    assert momentary is None and short is None
    assert peak == pytest.approx(20 * math.log10(0.25), abs=0.05)
