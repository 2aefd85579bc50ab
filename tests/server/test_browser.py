"""The dashboard in a real headless Chromium against a real ``aers serve`` subprocess.

Uses Debian's ``chromium`` (see ``tests/server/browser.py``; without it these tests skip
and say why). Leaves ``tests/artifacts/dashboard.png`` behind as a test artifact.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import ARTIFACTS
from .live_server import aers_serve

pytestmark = pytest.mark.slow

CONFIG = """
    version: 1
    sample_rate: 48000
    block_size: 512
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -6}}
      hiss: {type: noise, params: {level_db: -36, seed: 1}}
      g:    {type: gain, params: {gain_db: -40, smoothing_ms: 0}}
      eq1:  {type: eq, params: {bands: [{type: peak, freq: 2000, gain_db: 3, q: 1.0}]}}
      bus:  {type: mix}
      main: {type: output}
    connections:
      - {from: tone, to: g}
      - {from: g, to: bus}
      - {from: hiss, to: eq1}
      - {from: eq1, to: bus, gain_db: -6}
      - {from: bus, to: main}
"""
NODES = ("tone", "hiss", "g", "eq1", "bus", "main")


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    config = tmp_path / "live.yaml"
    config.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    with aers_serve(config) as base:
        yield base


def peak(page: Any, node: str, channel: int = 0) -> float:
    return float(page.get_attribute(f'[data-testid="meter-{node}-{channel}"]', "data-peak-db"))


def wait_peak(page: Any, node: str, low: float, high: float, timeout: float = 5000) -> int:
    """Wait until the node's meter reads within [low, high] dB; return frames seen so far."""
    page.wait_for_function(
        """([node, low, high]) => {
            const el = document.querySelector(`[data-testid="meter-${node}-0"]`);
            const db = el && Number(el.getAttribute("data-peak-db"));
            return el !== null && db >= low && db <= high;
        }""",
        arg=[node, low, high],
        timeout=timeout,
    )
    return int(page.evaluate("window.aers.frames"))


def test_dashboard_end_to_end(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector('[data-testid="status"][data-state="up"]', timeout=15000)

    # The graph shows every node of the config, with controls for each.
    for node in NODES:
        assert page.locator(f'[data-testid="graph-node-{node}"]').is_visible()
        assert page.locator(f'[data-testid="node-card-{node}"]').count() == 1
    assert page.locator('[data-testid="bypass-tone"]').is_disabled()  # sources cannot bypass

    # Meters move while the sine plays: -6 dBFS at the tone, -46 after the gain.
    wait_peak(page, "tone", -6.5, -5.5)
    wait_peak(page, "g", -46.5, -45.5)
    width = float(page.get_attribute('[data-testid="meter-tone-0"]', "width"))
    assert width > 0

    # ...and rest at silence: mute both sources, every meter falls to the floor.
    page.click('[data-testid="mute-tone"]')
    page.click('[data-testid="mute-hiss"]')
    for node in NODES:
        wait_peak(page, node, -121, -119)
    assert float(page.get_attribute('[data-testid="meter-main-0"]', "width")) == 0
    page.click('[data-testid="mute-tone"]')
    page.click('[data-testid="mute-hiss"]')
    wait_peak(page, "g", -46.5, -45.5)

    # Bypassing the -40 dB gain raises its output by 40 dB within the next frames.
    before = int(page.evaluate("window.aers.frames"))
    page.click('[data-testid="bypass-g"]')
    after = wait_peak(page, "g", -6.5, -5.5, timeout=3000)
    assert after - before <= 10, f"bypass showed after {after - before} frames"
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"last-ack\"]').textContent.includes('sample')"
    )
    assert page.get_attribute('[data-testid="bypass-g"]', "aria-pressed") == "true"

    page.wait_for_timeout(1500)  # let the strip chart fill a little for the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_dashboard_reconnects_after_a_server_restart(page: Any, tmp_path: Path) -> None:
    config = tmp_path / "live.yaml"
    config.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    with aers_serve(config) as base:
        page.goto(base + "/")
        page.wait_for_selector('[data-testid="status"][data-state="up"]', timeout=15000)
        port = base.rsplit(":", 1)[1]
    page.wait_for_selector('[data-testid="status"][data-state="down"]', timeout=10000)
    with aers_serve(config, port=int(port)):
        page.wait_for_selector('[data-testid="status"][data-state="up"]', timeout=20000)
        wait_peak(page, "tone", -6.5, -5.5)


def test_event_timeline_shows_scene_events(page: Any, tmp_path: Path) -> None:
    from .server_helpers import SCENE

    config = tmp_path / "scene.yaml"
    config.write_text(textwrap.dedent(SCENE).lstrip(), encoding="utf-8")
    with aers_serve(config) as base:
        page.goto(base + "/")
        page.wait_for_selector('[data-testid="status"][data-state="up"]', timeout=15000)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=\"event-log\"] li').length >= 4",
            timeout=10000,
        )
        lines = page.locator('[data-testid="event-log"] li').all_text_contents()
    assert any("start beep (fx) → fx @ 4800" in line for line in lines), lines
    assert any("stop  boom (explosion) → fx @ 16800" in line for line in lines), lines


def test_token_protected_dashboard_loads_with_the_printed_url(page: Any, tmp_path: Path) -> None:
    from .server_helpers import TOKEN

    config = tmp_path / "live.yaml"
    config.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    with aers_serve(config, "--token", TOKEN) as base:
        denied = page.goto(base + "/")
        assert denied is not None and denied.status == 401
        page.goto(f"{base}/?token={TOKEN}")  # the cookie it sets lets the assets load
        page.wait_for_selector('[data-testid="status"][data-state="up"]', timeout=15000)
        wait_peak(page, "tone", -6.5, -5.5)
