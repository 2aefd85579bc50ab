"""Every rate from 8 to 192 kHz is accepted; the built-ins are right at each verified rate.

Issue 21, item 3. Each check compares against a reference computed at that rate (the RBJ
cookbook's analytic gains, exact delay lengths, a resampled file's length, a generator's
frequency found by FFT), never against AERS at another rate.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from config_helpers import problems, write
from graphs import Registry
from rates import EDGE_RATES, RATES

from aers_host.config import load_config
from aers_host.events import default_generators
from aers_host.graph import render


def _graph(fs: int, nodes: str, connections: str, duration: float = 0.05) -> str:
    return f"""
        sample_rate: {fs}
        block_size: 256
        duration: {duration}
        nodes:
{nodes}
        connections:
{connections}
    """


@pytest.mark.parametrize("fs", [*RATES, *EDGE_RATES, 11025, 22050, 32000, 176400])
def test_config_accepts_every_rate_in_range(registry: Registry, tmp_path: Path, fs: int) -> None:
    text = _graph(
        fs,
        "          tone: {type: sine, params: {freq: 1000}}\n          out: {type: output}",
        "          - {from: tone, to: out}",
    )
    assert load_config(write(tmp_path, text), registry=registry).sample_rate == fs


@pytest.mark.parametrize("fs", [7999, 192001, 0, 44100.5])
def test_config_refuses_rates_out_of_range(tmp_path: Path, fs: float) -> None:
    text = _graph(
        fs,  # type: ignore[arg-type]
        "          tone: {type: sine}\n          out: {type: output}",
        "          - {from: tone, to: out}",
    )
    found = problems(write(tmp_path, text))
    assert [p.path for p in found] == ["sample_rate"]
    assert found[0].line == 1


@pytest.mark.parametrize("fs", [*RATES, *EDGE_RATES])
def test_eq_bands_are_checked_against_each_rates_nyquist(tmp_path: Path, fs: int) -> None:
    nyquist = fs // 2
    text = _graph(
        fs,
        "          tone: {type: sine, params: {freq: 100}}\n"
        f"          eq1: {{type: eq, params: {{bands: [{{type: peak, freq: {nyquist - 1}}},"
        f" {{type: lowpass, freq: {nyquist}}}]}}}}\n"
        "          out: {type: output}",
        "          - {from: tone, to: eq1}\n          - {from: eq1, to: out}",
    )
    found = problems(write(tmp_path, text))
    assert [p.path for p in found] == ["nodes.eq1.params.bands.1.freq"]
    assert f"Nyquist ({nyquist} Hz for {fs} Hz)" in found[0].message


@pytest.mark.parametrize("fs", RATES)
def test_rendered_delay_and_peak_band_match_the_analytic_response(
    registry: Registry, tmp_path: Path, fs: int
) -> None:
    """impulse → delay 10 ms → peak +6 dB at 1 kHz: the onset and the gain at f0 are exact."""
    text = _graph(
        fs,
        "          imp: {type: impulse, params: {at: 0, channels: 1}}\n"
        "          dly: {type: delay, params: {ms: 10, mix: 1.0}}\n"
        "          eq1: {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 6, q: 2}]}}\n"
        "          out: {type: output}",
        "          - {from: imp, to: dly}\n          - {from: dly, to: eq1}\n"
        "          - {from: eq1, to: out}",
        duration=0.5,
    )
    result = render(load_config(write(tmp_path, text), registry=registry), registry,
                    out_dir=None, capture=True)  # fmt: skip
    y = result.captured["out"][0].astype(np.float64)
    assert y.shape == (round(0.5 * fs),)
    onset = round(0.010 * fs)  # 10 ms at this rate, rounded as documented
    assert np.all(y[:onset] == 0.0) and y[onset] != 0.0
    spectrum = np.fft.rfft(y[onset:], n=fs)  # 1 Hz bins
    gain_db = 20 * math.log10(abs(spectrum[1000]))
    assert gain_db == pytest.approx(6.0, abs=0.05)
    assert 20 * math.log10(abs(spectrum[100])) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("fs", RATES)
def test_file_is_resampled_to_the_graph_rate(registry: Registry, tmp_path: Path, fs: int) -> None:
    sf.write(tmp_path / "a.wav", np.full(4410, 0.25, np.float32), 44100, subtype="FLOAT")
    text = f"""
        sample_rate: {fs}
        nodes:
          src: {{type: file, params: {{path: a.wav}}}}
          out: {{type: output}}
        connections:
          - {{from: src, to: out}}
    """
    result = render(load_config(write(tmp_path, text), registry=registry), registry,
                    out_dir=tmp_path / "o")  # fmt: skip
    audio, rate = sf.read(tmp_path / "o" / "out.wav")
    assert rate == fs
    assert result.frames == len(audio) == round(4410 * fs / 44100)  # 0.1 s at any rate
    assert np.median(audio) == pytest.approx(0.25, abs=1e-3)


@pytest.mark.parametrize("fs", [*RATES, *EDGE_RATES])
def test_every_generator_renders_at_each_rate(fs: int) -> None:
    for name, generator in default_generators().items():
        params = {"freq": 1000.0} if name == "tone" else {}
        audio = generator.generate(7, fs, fs // 4, params)
        assert audio.shape == (fs // 4,), name
        assert np.all(np.isfinite(audio)) and np.abs(audio).max() > 0, name
        if name == "tone":
            spectrum = np.abs(np.fft.rfft(audio.astype(np.float64), n=fs))
            assert int(np.argmax(spectrum)) == 1000  # the tone is at 1 kHz at every rate
