"""``aers run --jack`` against a real JACK server (dummy backend) and test clients."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from dsp.test_eq import cookbook
from graphs import TONE_1K_GAIN, graph
from scipy import signal as sps

from .jack_helpers import (
    RATE,
    Tap,
    connections,
    glitched_cycles,
    jack_server,
    output_latency,
    sine_fit,
    wait_for_ports,
)

pytestmark = pytest.mark.slow


def sine(rate: int, duration: float) -> str:
    """The 1 kHz tone at -6 dBFS, at ``rate``, for ``duration`` seconds."""
    return graph(TONE_1K_GAIN, version=1, sample_rate=rate, block_size=256, duration=duration)


EQ = """
version: 1
sample_rate: 48000
block_size: 256
duration: 60.0
nodes:
  mic: {type: input, params: {channels: 1}}
  eq: {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 6, q: 1.0}]}}
  main: {type: output}
connections:
  - {from: mic, to: eq}
  - {from: eq, to: main}
"""


def write(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def client_name() -> str:
    return f"aers-{uuid.uuid4().hex[:6]}"


def test_sine_plays_at_its_level_without_a_gap(
    tmp_path: Path, jack_name: str, aers_jack: Any
) -> None:
    name = client_name()
    cfg = write(tmp_path, sine(RATE, 2.0))
    proc = aers_jack(["run", str(cfg), "--jack", "--client-name", name, "--jack-periods", "16",
                       "--connect", "--out-dir", str(tmp_path / "out")], jack_name)  # fmt: skip
    tap = Tap("rec", jack_name, inputs=2, seconds=6.0)
    try:
        ports = wait_for_ports(tap, f"{name}:main_", 2, proc)
        for k, port in enumerate(ports, 1):  # --connect: channel k to system playback k
            assert connections(tap, port, 1) == [f"system:playback_{k}"]
        for port, mine in zip(ports, tap.ins, strict=True):
            tap.client.connect(port, mine)
        tap.recording = True  # the pre-roll is silence: the sine cannot have started yet
        _out, err = proc.communicate(timeout=120)
    finally:
        tap.close()
    assert proc.returncode == 0, err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for channel in tap.recorded():
        sounding = np.flatnonzero(np.abs(channel) > 1e-6)
        # the whole 2 s arrived (nothing lost at the end), with no hole in between
        assert sounding[-1] - sounding[0] + 1 == pytest.approx(2 * RATE, abs=2)
        amplitude, residual = sine_fit(channel[sounding[0] : sounding[-1] + 1], 1000.0)
        assert 20 * np.log10(amplitude) == pytest.approx(-6.0, abs=0.1)
        # no discontinuity, except in a cycle JACK itself reported as an xrun
        glitches = glitched_cycles(residual, int(sounding[0]), 1e-3)
        assert glitches <= min(metrics["jack"]["xruns"], 4), f"{glitches} glitched cycles"
    assert metrics["jack"]["ring_latency_samples"] == 16 * 256
    assert metrics["deadline_misses"] == metrics["jack"]["underruns"]


def test_input_eq_output_is_aligned_with_the_reported_latency(
    tmp_path: Path, jack_name: str, aers_jack: Any
) -> None:
    name = client_name()
    proc = aers_jack(["run", str(write(tmp_path, EQ)), "--jack", "--client-name", name,
                       "--jack-periods", "16", "--connect", "--out-dir", str(tmp_path / "out")],
                      jack_name)  # fmt: skip
    player = Tap("play", jack_name)
    recorder = Tap("rec", jack_name, inputs=1, seconds=8.0)
    try:
        (capture,) = wait_for_ports(player, f"{name}:mic_", 1, proc)
        outs = wait_for_ports(recorder, f"{name}:main_", 1, proc)
        # --connect: system capture 1 feeds the mono input (the dummy backend's is silent)
        assert connections(player, capture, 1) == ["system:capture_1"]
        player.client.connect(player.out, capture)
        recorder.client.connect(outs[0], recorder.ins[0])
        recorder.recording = True
        player.signal = (np.random.default_rng(7).uniform(-0.25, 0.25, RATE)).astype(np.float32)
        player.play = True
        time.sleep(1.0)  # JACK recomputes latencies after a connection, asynchronously
        low, high = output_latency(recorder, outs[0])
        system = output_latency(player, player.client.get_port_by_name("system:capture_1"))
        while player.pos < len(player.signal) or recorder.fill < recorder.stream_index(
            player.play_t0 or 0
        ) + 2 * RATE:  # the signal, the pre-roll and the EQ's tail have been recorded
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stops after the block, metrics written
        _out, err = proc.communicate(timeout=120)
    finally:
        player.close()
        recorder.close()
    assert proc.returncode == 130, err
    assert player.play_t0 is not None
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    reported = metrics["jack"]["port_latency_samples"]["main"]
    assert reported == 16 * 256 + metrics["total_latency_samples"]
    # JACK's range spans both sources of the input: the player (no latency of its own)
    # and the system capture port (its own capture latency on top)
    assert (low, high) == (reported, reported + system[1])
    sos = cookbook("peak", 1000.0, 6.0, 1.0, RATE)
    expected = sps.sosfilt(sos, player.signal.astype(np.float64))
    at = recorder.stream_index(player.play_t0) + reported
    got = recorder.recorded()[0, at : at + len(expected)]
    assert len(got) == len(expected)
    # sample for sample (a shift by one sample would fail every cycle), except in a cycle
    # JACK itself reported as an xrun
    glitches = glitched_cycles(got - expected, at, 2e-5)
    assert glitches <= min(metrics["jack"]["xruns"], 4), f"{glitches} glitched cycles"


def test_a_441_config_on_a_48k_server_is_refused_in_one_line(
    tmp_path: Path, jack_name: str, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", jack_name)
    cfg = write(tmp_path, sine(44100, 1.0))
    result = run_cli("run", str(cfg), "--jack", "--client-name", client_name())
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error:") and "44100 Hz" in line and "48000 Hz" in line


def test_killing_the_server_ends_the_run_with_metrics_and_audio(
    tmp_path: Path, aers_jack: Any
) -> None:
    cfg = write(tmp_path, sine(RATE, 60.0))
    out_dir = tmp_path / "out"
    name = client_name()
    with jack_server() as server:
        proc = aers_jack(["run", str(cfg), "--jack", "--client-name", name, "--out-dir",
                           str(out_dir)], server.name)  # fmt: skip
        tap = Tap("rec", server.name)
        try:
            wait_for_ports(tap, f"{name}:main_", 2, proc)
        finally:
            tap.close()
        time.sleep(0.5)  # let it play a little
        server.proc.kill()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "JACK server stopped" in lines[0] and "Traceback" not in err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["jack"]["stopped_by_server"]
    audio, rate = sf.read(out_dir / "main.wav", dtype="float32")
    assert rate == RATE and len(audio) == metrics["frames"] > 0
