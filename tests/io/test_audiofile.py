from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aers_host.errors import AudioIOError
from aers_host.io import audio_info, read_audio, resample, write_audio


def test_roundtrip_layout_and_info(tmp_path: Path) -> None:
    data = np.random.default_rng(0).uniform(-1, 1, (3, 1000)).astype(np.float32)
    write_audio(tmp_path / "a.wav", data, 44100)
    info = audio_info(tmp_path / "a.wav")
    assert (info.channels, info.sample_rate, info.frames) == (3, 44100, 1000)
    back, rate = read_audio(tmp_path / "a.wav")
    assert rate == 44100 and back.dtype == np.float32 and back.flags.c_contiguous
    assert np.array_equal(back, data)


def test_read_resamples_with_soxr(tmp_path: Path) -> None:
    n = np.arange(44100)
    sf.write(tmp_path / "t.flac", 0.5 * np.sin(2 * np.pi * 440 * n / 44100), 44100)
    out, rate = read_audio(tmp_path / "t.flac", 48000)
    assert rate == 48000 and out.shape == (1, 48000)
    m = np.arange(2000, 46000)
    assert np.abs(out[0, 2000:46000] - 0.5 * np.sin(2 * np.pi * 440 * m / 48000)).max() < 1e-3


def test_resample_same_rate_is_identity() -> None:
    x = np.ones((2, 10), np.float32)
    assert resample(x, 48000, 48000) is x
    with pytest.raises(ValueError):
        resample(x, 0, 48000)


def test_missing_and_unreadable_raise_audio_io_error(tmp_path: Path) -> None:
    with pytest.raises(AudioIOError, match="file not found"):
        read_audio(tmp_path / "none.wav")
    (tmp_path / "bad.wav").write_text("nope")
    with pytest.raises(AudioIOError, match="cannot read audio file") as err:
        audio_info(tmp_path / "bad.wav")
    assert err.value.__cause__ is not None
    with pytest.raises(AudioIOError, match="cannot write"):
        write_audio(tmp_path / "missing-dir" / "x.wav", np.zeros((1, 4), np.float32), 48000)
