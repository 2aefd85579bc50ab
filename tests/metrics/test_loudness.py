"""BS.1770-4 loudness against the standard's own numbers and EBU Tech 3341 test signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rates import RATES
from scipy import signal

from aers_host.metrics import (
    block_power,
    integrated_loudness,
    k_weighting,
    measure,
    momentary_loudness,
    sample_peak_db,
    short_term_loudness,
    true_peak_db,
)

# ITU-R BS.1770-4, Annex 1, Tables 1 and 2 (48 kHz).
STAGE1_B = [1.53512485958697, -2.69169618940638, 1.19839281085285]
STAGE1_A = [1.0, -1.69065929318241, 0.73248077421585]
STAGE2_B = [1.0, -2.0, 1.0]
STAGE2_A = [1.0, -1.99004745483398, 0.99007225036621]


def sine(level_dbfs: float, seconds: float, rate: int, freq: float = 1000.0) -> np.ndarray:
    """A sine whose *peak* is ``level_dbfs`` (EBU Tech 3341's "-23 dBFS" convention)."""
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t)


def stereo(x: np.ndarray) -> np.ndarray:
    return np.stack([x, x])


def test_k_weighting_at_48k_equals_the_standards_table() -> None:
    (b1, a1), (b2, a2) = k_weighting(48000)
    np.testing.assert_allclose(b1, STAGE1_B, atol=1e-8, rtol=0)
    np.testing.assert_allclose(a1, STAGE1_A, atol=1e-8, rtol=0)
    np.testing.assert_allclose(b2, STAGE2_B, atol=1e-8, rtol=0)
    np.testing.assert_allclose(a2, STAGE2_A, atol=1e-8, rtol=0)


@pytest.mark.parametrize("rate", [44100, 96000, 32000])
def test_k_weighting_response_is_the_same_at_other_rates(rate: int) -> None:
    freqs = np.array([20.0, 38.0, 100.0, 1000.0, 1681.0, 4000.0, 10000.0, 15000.0])

    def response(fs: int) -> np.ndarray:
        total = np.zeros(freqs.size)
        for b, a in k_weighting(fs):
            _, h = signal.freqz(b, a, worN=freqs, fs=fs)
            total += 20 * np.log10(np.abs(h))
        return total

    np.testing.assert_allclose(response(rate), response(48000), atol=0.05)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_tech3341_cases_1_and_2_stereo_sine_reads_its_level(rate: int, level: float) -> None:
    assert integrated_loudness(stereo(sine(level, 20.0, rate)), rate) == pytest.approx(
        level, abs=0.1
    )


def test_tech3341_case_5_relative_gate() -> None:
    rate = 48000
    x = np.concatenate([sine(-26, 20, rate), sine(-20, 20.1, rate), sine(-26, 20, rate)])
    assert integrated_loudness(stereo(x), rate) == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case_3_quiet_parts_are_gated_out() -> None:
    rate = 48000
    x = np.concatenate([sine(-36, 10, rate), sine(-23, 60, rate), sine(-36, 10, rate)])
    assert integrated_loudness(stereo(x), rate) == pytest.approx(-23.0, abs=0.1)


def test_absolute_gate() -> None:
    rate = 48000
    assert integrated_loudness(np.zeros((2, rate)), rate) == -math.inf
    assert integrated_loudness(stereo(sine(-80, 2, rate)), rate) == -math.inf
    mixed = np.concatenate([np.zeros(5 * rate), sine(-23, 5, rate)])
    # Ungated this would read -26 LUFS; the three windows straddling the onset pass both
    # gates (as the standard specifies), pulling the result a little below -23.
    assert integrated_loudness(stereo(mixed), rate) == pytest.approx(-23.0, abs=0.2)


def test_momentary_and_short_term_of_a_steady_tone() -> None:
    rate = 48000
    x = stereo(sine(-23, 10, rate))
    momentary, short = momentary_loudness(x, rate), short_term_loudness(x, rate)
    assert momentary.size == 97 and short.size == 71  # 100 ms hop, whole windows only
    np.testing.assert_allclose(momentary, -23.0, atol=0.1)
    np.testing.assert_allclose(short, -23.0, atol=0.1)


def test_channel_weights_surrounds_and_lfe() -> None:
    rate = 48000
    tone = sine(-23, 3, rate)
    five_one = np.zeros((6, tone.size))
    five_one[3] = tone  # LFE: not counted
    assert integrated_loudness(five_one, rate) == -math.inf
    five_one[3], five_one[4] = 0, tone  # one surround at weight 1.41
    left_only = np.zeros((2, tone.size))
    left_only[0] = tone
    gain = 10 * math.log10(1.41)
    assert integrated_loudness(five_one, rate) == pytest.approx(
        integrated_loudness(left_only, rate) + gain, abs=0.01
    )


def test_true_peak_finds_the_inter_sample_peak() -> None:
    n = np.arange(48000)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4)  # fs/4: samples sit at ±0.707 around a 1.0 peak
    x *= signal.windows.tukey(n.size, 0.2)  # no abrupt edges (their ringing is real overshoot)
    assert sample_peak_db(x) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_db(x) == pytest.approx(0.0, abs=0.1)


def test_true_peak_never_below_sample_peak() -> None:
    x = np.zeros((2, 1000))
    x[1, 500] = 0.5
    assert true_peak_db(x) >= sample_peak_db(x) == pytest.approx(-6.02, abs=0.01)


def test_measure_collects_everything() -> None:
    rate = 44100
    stats = measure(stereo(sine(-23, 5, rate)), rate)
    assert stats.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert stats.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert stats.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert stats.sample_peak_dbfs == pytest.approx(-23.0, abs=0.01)
    assert stats.true_peak_dbtp == pytest.approx(-23.0, abs=0.05)


def test_short_input_has_no_blocks() -> None:
    assert block_power(np.zeros((2, 100)), 48000, 0.4).size == 0
    assert measure(np.zeros((2, 100)), 48000).integrated_lufs == -math.inf
