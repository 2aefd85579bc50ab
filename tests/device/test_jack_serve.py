"""``aers serve --jack``: the live-edited graph plays to JACK, and edits still crossfade."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from graphs import TONE_1K_GAIN, graph
from server.live_server import aers_serve

from .jack_helpers import RATE, Tap, glitched_cycles, output_latency

pytestmark = pytest.mark.slow

LIVE = graph(TONE_1K_GAIN, version=1, sample_rate=48000, block_size=512)
#: Drop the -6 dB gain: without a crossfade the level would jump from -6 to 0 dB.
EDIT = [{"op": "remove_node", "id": "g"}, {"op": "connect", "from": "tone", "to": "main"}]
#: One 1 kHz period at 48 kHz: each window's peak is the sine's amplitude there.
WINDOW = 48


def wait_running(tap: Tap, pattern: str) -> object:
    """AERS's first output port once JACK set its latency (the client is active)."""
    for _ in range(1200):
        ports = tap.client.get_ports(pattern)
        if ports and output_latency(tap, ports[0])[1] > 0:
            return ports[0]
        time.sleep(0.05)
    pytest.fail(f"{pattern} did not become active")


def test_serve_plays_the_live_edited_graph_with_a_crossfade(
    tmp_path: Path, jack_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", jack_name)
    cfg = tmp_path / "live.yaml"
    cfg.write_text(LIVE, encoding="utf-8")
    name = f"aers-{uuid.uuid4().hex[:6]}"
    tap = Tap("rec", jack_name, inputs=1, seconds=20.0)
    try:
        with aers_serve(cfg, "--jack", "--client-name", name, "--jack-periods", "16",
                        "--crossfade-ms", "50", timeout=180) as url:  # fmt: skip
            tap.client.connect(wait_running(tap, f"{name}:main_1"), tap.ins[0])
            tap.recording = True
            time.sleep(1.0)
            edit_at = tap.fill
            httpx.post(f"{url}/api/edits", json=EDIT, timeout=30).raise_for_status()
            time.sleep(1.0)
            tap.recording = False
            metrics = httpx.get(f"{url}/api/metrics", timeout=30).json()
    finally:
        tap.close()
    assert metrics["jack"]["period"] == 256 and metrics["jack"]["client"] == name
    x = tap.recorded()[0]
    start = int(np.flatnonzero(np.abs(x) > 1e-6)[0]) + RATE // 4  # past the start-up
    steps = np.abs(np.diff(x))
    steps[tap.seams() - 1] = 0.0  # where the recorder itself missed cycles, not AERS
    x = x[start:]
    edit_at -= start
    peaks = np.abs(x[: len(x) // WINDOW * WINDOW]).reshape(-1, WINDOW).max(axis=1)
    before = peaks[: edit_at // WINDOW]
    after = peaks[-RATE // 4 // WINDOW :]
    assert 20 * np.log10(np.median(before)) == pytest.approx(-6.0, abs=0.1)
    assert 20 * np.log10(np.median(after)) == pytest.approx(0.0, abs=0.1)
    fading = int(np.count_nonzero((peaks > 0.55) & (peaks < 0.95)))
    assert fading >= 20, f"only {fading} ms between the two levels: no crossfade"
    # nowhere a jump (a 1 kHz sine of amplitude 1 moves at most 2π·1000/48000 per sample),
    # except in a cycle JACK itself reported as an xrun
    limit = 2 * np.pi * 1000 / RATE * 1.05
    glitches = glitched_cycles(np.maximum(steps[start:] - limit, 0.0), start, 0.0)
    assert glitches <= min(metrics["jack"]["xruns"], 4), f"{glitches} glitched cycles"
