"""Render length without a duration: the longest non-looping file source plus the latency."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from graphs import LoadGraph, Registry

from aers_host.dsp import FileSource
from aers_host.errors import GraphError
from aers_host.graph import render
from aers_host.io import read_audio


def write_wav(path: Path, fs: int, frames: int) -> np.ndarray:
    """A mono FLOAT WAV of ``frames`` frames at ``fs`` (non-zero to its last sample)."""
    data = (0.25 + 0.25 * np.sin(np.arange(frames) * 0.01)).astype(np.float32)
    sf.write(path, data, fs, subtype="FLOAT")
    return data


def file_graph(path: str, extra: str = "", loop: bool = False) -> str:
    return f"""
        sample_rate: 48000
        block_size: 512
        nodes:
          src: {{type: file, params: {{path: {path}, loop: {str(loop).lower()}}}}}
          {extra}
          out: {{type: output, params: {{path: out.wav}}}}
        connections:
          - {{from: src, to: out}}
    """


def test_file_source_at_graph_rate_sets_the_length(
    tmp_path: Path, load_graph: LoadGraph, registry: Registry
) -> None:
    data = write_wav(tmp_path / "a.wav", 48000, 14400)  # 0.3 s
    result = render(load_graph(file_graph("a.wav")), registry, out_dir=None, capture=True)
    assert result.frames == 14400
    assert np.array_equal(result.captured["out"][0], data)  # every sample, nothing after


def test_resampled_file_lasts_its_resampled_length(
    tmp_path: Path, load_graph: LoadGraph, registry: Registry
) -> None:
    write_wav(tmp_path / "a.wav", 22050, 6615)  # 0.3 s → exactly 14400 frames at 48 kHz
    write_wav(tmp_path / "b.wav", 22050, 6617)  # a ratio that does not divide evenly
    for name, expected in (("a.wav", 14400), ("b.wav", 14404)):
        resampled, _ = read_audio(tmp_path / name, 48000)
        assert resampled.shape[1] == expected
        result = render(load_graph(file_graph(name)), registry, out_dir=None, capture=True)
        assert result.frames == expected
        assert np.array_equal(result.captured["out"][0], resampled[0])


def test_longest_file_plus_latency_and_start_offset(
    tmp_path: Path, load_graph: LoadGraph, registry: Registry
) -> None:
    write_wav(tmp_path / "a.wav", 48000, 14400)
    write_wav(tmp_path / "b.wav", 48000, 4800)
    text = """
        sample_rate: 48000
        block_size: 256
        nodes:
          a: {type: file, params: {path: a.wav, start: 0.1}}
          b: {type: file, params: {path: b.wav}}
          lim: {type: limiter, params: {lookahead_ms: 5}}
          bus: {type: mix}
          out: {type: output}
        connections:
          - {from: a, to: lim}
          - {from: lim, to: bus}
          - {from: b, to: bus}
          - {from: bus, to: out}
    """
    result = render(load_graph(text), registry, out_dir=None, capture=True)
    assert result.plan.total_latency == 240
    assert result.frames == (14400 - 4800) + 240  # `a` plays from 0.1 s in; limiter latency
    assert result.captured["out"].shape == (1, result.frames)


def test_cli_render_without_duration_writes_the_file_length(
    tmp_path: Path, run_cli: Callable[..., Any], aers_home: Path
) -> None:
    write_wav(tmp_path / "a.wav", 22050, 6615)
    path = tmp_path / "f1.yaml"
    path.write_text(textwrap.dedent(file_graph("a.wav")).lstrip(), encoding="utf-8")
    res = run_cli("render", path, "--out-dir", tmp_path / "out")
    assert res.code == 0, res.err
    assert sf.info(str(tmp_path / "out" / "out.wav")).frames == 14400


def test_file_plus_sine_refuses_with_a_clear_error(
    tmp_path: Path, load_graph: LoadGraph, registry: Registry
) -> None:
    write_wav(tmp_path / "a.wav", 48000, 14400)
    tone = "tone: {type: sine, params: {freq: 440, channels: 1}}"
    text = file_graph("a.wav", tone).replace(
        "- {from: src, to: out}", "- {from: src, to: out}\n          - {from: tone, to: out}"
    )
    with pytest.raises(GraphError) as info:
        render(load_graph(text), registry, out_dir=None)
    message = str(info.value)
    assert "no `duration`" in message
    assert "'tone' (sine) never ends" in message
    assert "'src'" not in message  # the file source ends: not blamed
    assert "--duration" in message and "duration:" in message
    # ... and either way of giving a duration fixes it.
    assert render(load_graph(text), registry, out_dir=None, duration=0.01).frames == 480
    assert render(load_graph(text, duration=0.02), registry, out_dir=None).frames == 960


def test_looping_file_refuses(tmp_path: Path, load_graph: LoadGraph, registry: Registry) -> None:
    write_wav(tmp_path / "a.wav", 48000, 14400)
    with pytest.raises(GraphError, match=r"'src' \(file, loop: true\) never ends"):
        render(load_graph(file_graph("a.wav", loop=True)), registry, out_dir=None)


def test_cli_refusal_exits_1_naming_the_fix(
    tmp_path: Path, run_cli: Callable[..., Any], aers_home: Path
) -> None:
    write_wav(tmp_path / "a.wav", 48000, 14400)
    path = tmp_path / "f1.yaml"
    path.write_text(textwrap.dedent(file_graph("a.wav", loop=True)).lstrip(), encoding="utf-8")
    res = run_cli("render", path, "--out-dir", tmp_path / "out")
    assert res.code == 1
    assert "never ends" in res.err and "--duration" in res.err


def test_file_source_length_frames(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 22050, 6615)
    src = FileSource(tmp_path / "a.wav", start=0.1)
    assert src.length_frames is None  # unknown until prepared (the resampled length)
    src.prepare(48000, 512, 1)
    assert src.length_frames == 14400 - 4800
    late = FileSource(tmp_path / "a.wav", start=1.0)
    late.prepare(48000, 512, 1)
    assert late.length_frames == 0  # starts past its end: plays nothing
    looping = FileSource(tmp_path / "a.wav", loop=True)
    looping.prepare(48000, 512, 1)
    assert looping.length_frames is None
