from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from aers_host._nodetype import ChannelError, CheckContext
from aers_host.dsp import FileSource

Render = Callable[..., np.ndarray]


def write_tone(path: Path, fs: int, seconds: float, channels: int = 2) -> np.ndarray:
    n = np.arange(int(fs * seconds))
    data = np.stack([0.5 * np.sin(2 * np.pi * 1000 * (c + 1) * n / fs) for c in range(channels)])
    sf.write(path, data.T.astype(np.float32), fs, subtype="FLOAT")
    return data.astype(np.float32)


def play(src: Any, fs: int, frames: int, block: int, render: Render) -> np.ndarray:
    src.prepare(fs, block, 0)
    return render(src, np.zeros((0, frames), np.float32), block, src.out_channels)


def test_reads_44k1_wav_and_resamples_to_48k(tmp_path: Path, render: Render,
                                             node_types: dict[str, Any]) -> None:
    write_tone(tmp_path / "tone.wav", 44100, 1.0)
    ctx = CheckContext(48000, 512, tmp_path)
    params = {"path": "tone.wav"}  # relative: resolved against the config folder
    assert node_types["file"].check(params, ctx) == []
    assert node_types["file"].output_channels(params, None, ctx) == 2
    src = node_types["file"].create(params, ctx)
    out = play(src, 48000, 60000, 512, render)
    assert np.all(out[:, 48000:] == 0.0)  # after the end: silence
    n = np.arange(1000, 47000)
    for c, f in enumerate((1000, 2000)):
        ref = 0.5 * np.sin(2 * np.pi * f * n / 48000)
        assert np.abs(out[c, 1000:47000] - ref).max() < 1e-3  # soxr HQ keeps the tone exact


def test_same_rate_is_bit_exact_and_block_invariant(tmp_path: Path, render: Render) -> None:
    data = write_tone(tmp_path / "t.wav", 48000, 0.25, channels=1)
    outs = [play(FileSource(tmp_path / "t.wav"), 48000, 15000, blk, render) for blk in (64, 4096)]
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0][:, :12000], data)


def test_loop_start_and_gain(tmp_path: Path, render: Render) -> None:
    data = write_tone(tmp_path / "t.wav", 48000, 0.01, channels=1)  # 480 frames
    src = FileSource(tmp_path / "t.wav", loop=True, start=0.001, gain_db=-6.0)  # 48 frames in
    out = play(src, 48000, 2000, 64, render)
    g = np.float32(10 ** (-6 / 20))
    idx = (np.arange(2000) + 48) % 480
    assert np.array_equal(out[0], data[0, idx] * g)


def test_missing_file_is_a_param_issue(tmp_path: Path, node_types: dict[str, Any]) -> None:
    ctx = CheckContext(48000, 512, tmp_path)
    issues = node_types["file"].check({"path": "media/nope.wav"}, ctx)
    assert len(issues) == 1
    assert issues[0].path == "path"
    assert issues[0].message == f"file not found: {tmp_path / 'media/nope.wav'}"
    assert issues[0].hint
    with pytest.raises(ChannelError):
        node_types["file"].output_channels({"path": "media/nope.wav"}, None, ctx)


def test_unreadable_file_is_a_param_issue(tmp_path: Path, node_types: dict[str, Any]) -> None:
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    issues = node_types["file"].check({"path": "junk.wav"}, CheckContext(48000, 512, tmp_path))
    assert len(issues) == 1 and "cannot read audio file" in issues[0].message


def test_a_file_with_nan_samples_is_refused_naming_it(
    tmp_path: Path, aers_home: Path, run_cli: Callable[..., Any]
) -> None:
    audio = np.full((4800, 1), 0.25, np.float32)
    audio[100], audio[200] = np.nan, np.inf
    sf.write(tmp_path / "bad.wav", audio, 48000, subtype="FLOAT")
    config = tmp_path / "g.yaml"
    config.write_text(
        "nodes:\n  f: {type: file, params: {path: bad.wav}}\n  o: {type: output}\n"
        "connections:\n  - {from: f, to: o}\n",
        encoding="utf-8",
    )
    result = run_cli("render", config, "--out-dir", tmp_path / "out")
    assert result.code == 1 and "Traceback" not in result.err
    assert "bad.wav: 2 samples are NaN or infinite" in " ".join(result.err.split())
    assert not (tmp_path / "out" / "o.wav").exists()
