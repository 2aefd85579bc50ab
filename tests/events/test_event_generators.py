"""Generators: deterministic per seed, different across seeds, shaped like what they name."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from aers_host.events import BUILTIN_GENERATORS

SR = 48000
FINITE = ["footsteps", "dialogue", "explosion", "impulse"]


def gen(name: str, seed: int = 1, frames: int | None = None, **params: object) -> np.ndarray:
    return BUILTIN_GENERATORS[name].generate(seed, SR, frames, params)


@pytest.mark.parametrize("name", sorted(BUILTIN_GENERATORS))
def test_same_seed_same_audio_float32_mono(name: str) -> None:
    frames = None if name in FINITE else SR // 2
    a, b = gen(name, 7, frames), gen(name, 7, frames)
    assert a.dtype == np.float32 and a.ndim == 1
    assert np.array_equal(a, b)
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0


@pytest.mark.parametrize("name", ["footsteps", "dialogue", "explosion", "ambience"])
def test_different_seeds_differ(name: str) -> None:
    frames = SR if name == "ambience" else None
    a, b = gen(name, 1, frames), gen(name, 2, frames)
    n = min(a.size, b.size)
    assert not np.array_equal(a[:n], b[:n])


@pytest.mark.parametrize("name", sorted(BUILTIN_GENERATORS))
def test_exact_length_when_frames_given(name: str) -> None:
    assert gen(name, 3, 12_345).shape == (12_345,)


@pytest.mark.parametrize("name", ["tone", "ambience"])
def test_endless_sources_have_no_natural_length(name: str) -> None:
    assert BUILTIN_GENERATORS[name].natural_seconds({}) is None


def test_impulse_is_one_full_scale_sample() -> None:
    assert gen("impulse").tolist() == [1.0]


def test_tone_is_a_sine_at_its_frequency() -> None:
    x = gen("tone", frames=SR, freq=1000.0).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second
    assert x[0] == 0.0 and np.isclose(np.sqrt(np.mean(x**2)), 1 / np.sqrt(2), atol=1e-4)


def _onsets(x: np.ndarray, threshold: float) -> np.ndarray:
    """Sample indices where a 1 ms envelope first rises over ``threshold`` after 150 ms quiet."""
    env = np.convolve(np.abs(x), np.ones(48) / 48, mode="same")
    above = np.flatnonzero(env > threshold)
    keep = np.concatenate([[True], np.diff(above) > 0.15 * SR])
    return above[keep]


@pytest.mark.parametrize("cadence", [1.5, 2.0])
def test_footsteps_land_heel_transients_at_the_cadence(cadence: float) -> None:
    x = gen("footsteps", 11, None, cadence_hz=cadence, steps=6, surface="concrete")
    onsets = _onsets(x, 0.05 * float(np.max(np.abs(x))))
    assert len(onsets) == 6
    expected = np.arange(6) / cadence * SR
    assert np.all(np.abs(onsets - expected) < 0.012 * SR)  # jitter ≤ 8 ms + envelope lag
    assert np.flatnonzero(x)[0] == 0  # the first heel is on the event's first sample


def test_footsteps_have_heel_and_toe_per_step() -> None:
    x = gen("footsteps", 3, None, cadence_hz=1.0, steps=1, heel_toe_ms=80.0).astype(np.float64)
    env = np.convolve(np.abs(x), np.ones(24) / 24, mode="same")
    heel = env[: int(0.04 * SR)].max()
    toe_region = env[int(0.075 * SR) : int(0.12 * SR)]
    gap = env[int(0.05 * SR) : int(0.075 * SR)].min()
    assert toe_region.max() > 4 * gap and heel > toe_region.max()


def test_surfaces_sound_different() -> None:
    def centroid(surface: str) -> float:
        x = gen("footsteps", 5, None, surface=surface, steps=4).astype(np.float64)
        f, p = signal.welch(x, SR, nperseg=2048)
        return float((f * p).sum() / p.sum())

    assert centroid("metal") > centroid("wood")


def test_dialogue_has_voiced_bursts_and_pauses() -> None:
    x = gen("dialogue", 4, 4 * SR, syllable_rate=4.0, pause_prob=0.5).astype(np.float64)
    frame = SR // 50  # 20 ms
    rms = np.sqrt(np.mean(x[: x.size // frame * frame].reshape(-1, frame) ** 2, axis=1))
    silent = np.mean(rms < 1e-4)
    assert 0.05 < silent < 0.7  # gaps between words, but mostly speech
    f, p = signal.welch(x, SR, nperseg=4096)
    assert f[np.argmax(p)] < 1500  # energy sits in the vowel formant range


def test_explosion_is_a_loud_onset_with_a_long_decay() -> None:
    x = gen("explosion", 9, None, decay_s=2.0).astype(np.float64)
    assert x.size == round(2.3 * SR)
    early = np.sqrt(np.mean(x[: SR // 10] ** 2))
    late = np.sqrt(np.mean(x[int(1.5 * SR) : int(1.6 * SR)] ** 2))
    assert early > 10 * late > 0
    f, p = signal.welch(x[: SR // 2], SR, nperseg=8192)
    assert f[np.argmax(p)] < 200  # the thump dominates


def test_ambience_bed_level_and_fades() -> None:
    x = gen("ambience", 2, 3 * SR).astype(np.float64)
    assert np.isclose(20 * np.log10(np.sqrt(np.mean(x**2))), -26.0, atol=0.5)
    assert x[0] == 0.0 and abs(x[-1]) < 1e-6
