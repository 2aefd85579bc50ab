"""The streaming BS.1770-4 meter against EBU Tech 3341/3342 cases and independent references.

Every test signal is generated here. References: pyloudnorm (an independent BS.1770-4
implementation) for integrated loudness, ``scipy.signal.upfirdn`` with the Annex 2 taps
and ``scipy.signal.resample_poly`` for true peak, a direct ``sosfilt`` + window mean for
the momentary/short-term windows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from aers_host.metrics import LoudnessMeter, k_weighting_sos, measure, meter_for
from aers_host.metrics._bs1770 import ANNEX2_PHASES

RATES = (44100, 48000, 96000, 192000)


def sine(level_dbfs: float, seconds: float, rate: int, freq: float = 1000.0) -> np.ndarray:
    """A sine whose *peak* is ``level_dbfs`` (EBU Tech 3341's "-23 dBFS" convention)."""
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t)


def stereo(*parts: np.ndarray) -> np.ndarray:
    x = np.concatenate(parts)
    return np.stack([x, x])


def streamed(x: np.ndarray, rate: int, block: int) -> LoudnessMeter:
    """Feed ``x`` through one preallocated block buffer, as the render loop does."""
    buf = np.zeros((x.shape[0], block), np.float32)
    meter = LoudnessMeter(rate, x.shape[0], block, x.shape[1])
    for start in range(0, x.shape[1], block):
        frames = min(block, x.shape[1] - start)
        buf[:, :frames] = x[:, start : start + frames]
        meter.process(buf, frames)
    meter.finish()
    return meter


@pytest.fixture(scope="module")
def programme() -> np.ndarray:
    """25 s of band-limited noise with a level ramp: loudness, range and peaks all vary."""
    rate = 48000
    rng = np.random.default_rng(7)
    noise = signal.sosfilt(signal.butter(4, [60, 12000], "bandpass", fs=rate, output="sos"),
                           rng.standard_normal((2, 25 * rate)))  # fmt: skip
    envelope = np.linspace(0.05, 0.4, noise.shape[1])
    return np.asarray(noise * envelope, np.float32)


@pytest.mark.parametrize("block", [1, 64, 441, 512, 4096])
def test_streaming_equals_one_call_for_any_block_size(programme: np.ndarray, block: int) -> None:
    rate = 48000
    part = programme[:, : 6 * rate] if block == 1 else programme  # per-sample calls are slow
    whole, stream = meter_for(part, rate).stats(), streamed(part, rate, block).stats()
    assert stream.integrated_lufs == pytest.approx(whole.integrated_lufs, abs=1e-9)
    assert stream.short_term_max_lufs == pytest.approx(whole.short_term_max_lufs, abs=1e-9)
    assert stream.momentary_max_lufs == pytest.approx(whole.momentary_max_lufs, abs=1e-9)
    assert stream.loudness_range_lu == pytest.approx(whole.loudness_range_lu, abs=1e-9)
    assert stream.true_peak_dbtp == whole.true_peak_dbtp
    assert stream.sample_peak_dbfs == whole.sample_peak_dbfs


def test_windows_equal_a_direct_sosfilt_reference(programme: np.ndarray) -> None:
    rate = 48000
    meter = meter_for(programme, rate)
    filtered = signal.sosfilt(k_weighting_sos(rate), programme.astype(np.float64), axis=-1)
    power = (filtered**2).sum(axis=0)
    for window, got in ((19200, meter.momentary_power()), (144000, meter.short_term_power())):
        starts = np.arange(0, power.size - window + 1, 4800)
        expected = np.array([power[s : s + window].mean() for s in starts])
        np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("rate", RATES)
def test_integrated_loudness_matches_pyloudnorm(programme: np.ndarray, rate: int) -> None:
    pyloudnorm = pytest.importorskip("pyloudnorm", reason="pyloudnorm (dev extra) not installed")
    x = signal.resample_poly(programme, rate // 100, 480, axis=-1) if rate != 48000 else programme
    reference = pyloudnorm.Meter(rate).integrated_loudness(np.asarray(x, np.float64).T)
    # pyloudnorm designs its shelf slightly differently (about 0.04 LU on broadband noise)
    assert streamed(x, rate, 512).stats().integrated_lufs == pytest.approx(reference, abs=0.1)


@pytest.mark.parametrize("rate", RATES)
def test_tech3341_case_1_at_every_rate(rate: int) -> None:
    stats = streamed(stereo(sine(-23, 20, rate)), rate, 512).stats()
    assert stats.integrated_lufs == pytest.approx(-23.0, abs=0.1)
    assert stats.momentary_max_lufs == pytest.approx(-23.0, abs=0.1)
    assert stats.short_term_max_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case_2() -> None:
    assert measure(stereo(sine(-33, 20, 48000)), 48000).integrated_lufs == pytest.approx(
        -33.0, abs=0.1
    )


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([(-36, 10), (-23, 60), (-36, 10)], -23.0),  # case 3
        ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),  # case 4
        ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),  # case 5
    ],
)
def test_tech3341_gating_cases(parts: list[tuple[float, float]], expected: float) -> None:
    x = stereo(*(sine(level, seconds, 48000) for level, seconds in parts))
    assert streamed(x, 48000, 1024).stats().integrated_lufs == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize(
    "levels",
    [(-28.0, -28.0, -24.0, -30.0, -30.0), (-28.0, -28.0, -24.0, None, -30.0, -30.0)],
    ids=["5.0", "5.1 with a silent LFE"],
)
def test_tech3341_case_6_surround_weights(levels: tuple[float | None, ...]) -> None:
    rate = 48000
    x = np.stack([sine(v, 20, rate) if v is not None else np.zeros(20 * rate) for v in levels])
    assert streamed(x, rate, 512).stats().integrated_lufs == pytest.approx(-23.0, abs=0.1)


def test_tech3341_case_9_short_term_is_constant() -> None:
    rate = 48000
    period = [sine(-20, 1.34, rate), sine(-30, 1.66, rate)]
    meter = streamed(stereo(*(period * 20)), rate, 512)
    _, short = meter.short_term()
    np.testing.assert_allclose(short, -23.0, atol=0.1)


def test_tech3341_case_12_momentary_is_constant() -> None:
    rate = 48000
    period = [sine(-20, 0.18, rate), sine(-30, 0.22, rate)]
    meter = streamed(stereo(*(period * 20)), rate, 512)
    t, momentary = meter.momentary()
    assert t[0] == pytest.approx(0.4)
    np.testing.assert_allclose(momentary, -23.0, atol=0.1)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ((-20, -30), 10.0),  # Tech 3342 case 1
        ((-20, -15), 5.0),  # case 2
        ((-40, -20), 20.0),  # case 3
        ((-50, -35, -20, -35, -50), 15.0),  # case 4
    ],
)
def test_tech3342_loudness_range(levels: tuple[float, ...], expected: float) -> None:
    x = stereo(*(sine(level, 20, 48000) for level in levels))
    assert streamed(x, 48000, 512).stats().loudness_range_lu == pytest.approx(expected, abs=1.0)


def test_loudness_range_of_a_steady_tone_is_zero_and_silence_has_none() -> None:
    assert measure(stereo(sine(-23, 10, 48000)), 48000).loudness_range_lu == pytest.approx(
        0.0, abs=0.05
    )
    silent = measure(np.zeros((2, 48000 * 5)), 48000)
    assert silent.loudness_range_lu == 0.0 and silent.integrated_lufs == -math.inf


def tone(rate_fraction: int, phase_deg: float, amplitude_db: float, rate: int = 48000) -> np.ndarray:
    """A sine at ``rate / rate_fraction`` with a start phase: the Tech 3341 true-peak shape."""
    n = np.arange(rate)
    x = 10 ** (amplitude_db / 20) * np.sin(2 * np.pi * n / rate_fraction + np.radians(phase_deg))
    return stereo(x * signal.windows.tukey(n.size, 0.1))  # edges fade: no onset overshoot


@pytest.mark.parametrize(
    ("fraction", "phase", "level"),
    [
        (4, 0.0, -6.0),  # Tech 3341 test 15: samples on the peaks
        (4, 45.0, -6.0),  # test 16: every sample 3 dB under the peak
        (6, 60.0, -6.0),  # test 17
        (8, 67.5, -6.0),  # test 18
        (4, 45.0, 3.0),  # test 19: samples at 0 dBFS, true peak +3 dBTP
    ],
)
def test_tech3341_true_peak_cases(fraction: int, phase: float, level: float) -> None:
    stats = streamed(tone(fraction, phase, level), 48000, 512).stats()
    assert level - 0.4 <= stats.true_peak_dbtp <= level + 0.2  # the Tech 3341 tolerance
    assert stats.true_peak_dbtp >= stats.sample_peak_dbfs


def test_true_peak_equals_upfirdn_with_the_annex2_filter(programme: np.ndarray) -> None:
    # upfirdn with the phases interleaved (h[4k + p] = h_p[k]) is the 4x interpolation
    assert streamed(programme, 48000, 300).stats().true_peak_dbtp == pytest.approx(
        _annex2_reference_db(programme), abs=1e-9
    )


def _annex2_reference_db(x: np.ndarray) -> float:
    taps = np.asarray(ANNEX2_PHASES).T.reshape(-1)
    padded = np.concatenate([x, np.zeros((x.shape[0], 11))], axis=1)
    up = np.abs(signal.upfirdn(taps, padded.astype(np.float64), up=4, axis=-1)).max()
    return 20 * math.log10(max(up, float(np.abs(x).max())))


def _shapes() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 48000
    spike = 0.05 * rng.standard_normal((2, n))
    spike[1, 30001] = 0.9  # one isolated peak late in quiet noise: the skips must not miss it
    square = np.sign(np.sin(2 * np.pi * 997 * np.arange(n) / 48000))[np.newaxis] * 0.5
    impulses = np.zeros((1, n))
    impulses[0, ::4801] = 0.7
    bursts = stereo(sine(-20, 0.3, 48000, 11000), sine(-1, 0.02, 48000, 11000),
                    sine(-40, 0.5, 48000, 11000))  # fmt: skip
    return {"spike": spike, "square": square, "impulses": impulses, "bursts": bursts}


@pytest.mark.parametrize("shape", ["spike", "square", "impulses", "bursts"])
@pytest.mark.parametrize("block", [37, 512, 8192])
def test_true_peak_skips_never_change_the_result(shape: str, block: int) -> None:
    x = _shapes()[shape].astype(np.float32)  # what the meter's float32 buffer holds
    got = streamed(x, 48000, block).stats().true_peak_dbtp
    assert got == pytest.approx(_annex2_reference_db(x), abs=1e-9)


def test_true_peak_within_005_db_of_resample_poly_on_band_limited_audio(
    programme: np.ndarray,
) -> None:
    """The figure the meter reported before (4x resample_poly) on content below 12 kHz."""
    reference = 20 * math.log10(np.abs(signal.resample_poly(programme, 4, 1, axis=-1)).max())
    assert measure(programme, 48000).true_peak_dbtp == pytest.approx(reference, abs=0.05)


def test_meter_stops_at_its_capacity_without_writing_past_it() -> None:
    meter = LoudnessMeter(48000, 2, 512, 48000)  # room for 1 s
    block = np.full((2, 512), 0.1, np.float32)
    for _ in range(200):  # 2.1 s
        meter.process(block, 512)
    assert meter.segments().size == 10
    assert meter.stats().sample_peak_dbfs == pytest.approx(-20.0, abs=1e-5)


def test_a_block_that_does_not_fit_the_meter_is_refused_before_the_kernel_runs() -> None:
    meter = LoudnessMeter(48000, 2, 512, 48000)
    with pytest.raises(ValueError, match="does not fit a meter of 2 channels"):
        meter.process(np.zeros((2, 1024), np.float32), 1024)  # over max_block
    with pytest.raises(ValueError, match="max_block=512"):
        meter.process(np.zeros((1, 512), np.float32), 512)  # wrong channel count
    with pytest.raises(ValueError):
        meter.process(np.zeros((2, 100), np.float32), 200)  # more frames than the block
    assert meter.segments().size == 0 and meter.stats().sample_peak_dbfs == -math.inf
    with pytest.raises(ValueError, match="3 channel weights for 2 channels"):
        LoudnessMeter(48000, 2, 512, 48000, weights=[1.0, 1.0, 1.0])
