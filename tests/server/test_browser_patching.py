"""The dashboard as a sound engineer uses it, in Debian's Chromium against ``aers serve``.

Plugin nodes show their running values, clip LEDs latch and reset, a node whose xruns rise
is flagged, a reverb dragged onto a cable changes the recorded audio and lands in the
journal, a refused edit shows the server's words beside the control, undo restores the
graph (and the sound), and the demo is photographed for review (tests/artifacts/).

The example plugins are signed and installed once per session with
``scripts/demo_plugins.sh`` into a private ``$AERS_HOME`` (the native ones are built with
the system C++ compiler).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from graphs import SINE_EQ, SINE_GAIN, graph

from .browser import ARTIFACTS
from .live_server import aers_serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UP = '[data-testid="status"][data-state="up"]'


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private $AERS_HOME with the example plugins signed and installed."""
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler to build the native example plugins")
    home = tmp_path_factory.mktemp("aers-home")
    env = {
        **os.environ,
        "AERS_HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo_plugins.sh")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def plugins(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Servers started by this test find the installed example plugins."""
    monkeypatch.setenv("AERS_HOME", str(demo_home))
    return demo_home


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def open_page(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector(UP, timeout=15000)


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


PLUGINS = """
    version: 1
    nodes:
      tone: {type: sine, params: {freq: 220, level_db: -12}}
      trem: {type: tremolo, params: {rate_hz: 6, depth: 0.15}, deadline_ms: 5000}
      room: {type: native_reverb, params: {room_size: 0.7, damping: 0.4, wet: 0.35, dry: 0.0}}
      shelf: {type: native_eq, params: {filter_type: 2, freq: 8000, gain_db: -1.5, q: 0.707}}
      main: {type: output}
    connections:
      - {from: tone, to: trem}
      - {from: trem, to: room}
      - {from: room, to: shelf}
      - {from: shelf, to: main}
"""
#: Every parameter the config sets on a plugin node (the manifests' defaults differ).
CONFIGURED = {
    "trem": {"rate_hz": 6, "depth": 0.15},
    "room": {"room_size": 0.7, "damping": 0.4, "wet": 0.35, "dry": 0.0},
    "shelf": {"freq": 8000, "gain_db": -1.5, "q": 0.707},
}


def test_plugin_nodes_show_the_values_the_config_set(
    page: Any, tmp_path: Path, plugins: Path
) -> None:
    with aers_serve(write(tmp_path, PLUGINS)) as url:
        open_page(page, url)
        nodes = {n["id"]: n for n in httpx.get(f"{url}/api/nodes").json()}
        for node, values in CONFIGURED.items():
            served = {p["name"]: p["value"] for p in nodes[node]["params"]}
            for name, value in values.items():
                assert served[name] == pytest.approx(value), (node, name, served)
                shown = page.input_value(tid(f"value-{node}-{name}"))
                assert float(shown) == pytest.approx(value), (node, name, shown)
        # The enumerated filter type is a select showing the configured choice.
        select = tid("param-shelf-filter_type")
        assert page.input_value(select) == "2"
        assert page.locator(f"{select} option:checked").inner_text() == "high shelf"
        # A change made elsewhere (REST here) reaches the page.
        changed = httpx.post(f"{url}/api/nodes/trem/params", json={"param": "rate_hz", "value": 9})
        assert changed.status_code == 200, changed.text
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"value-trem-rate_hz\"]').value === '9'",
            timeout=5000,
        )


CLIPPING = """
    version: 1
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -3}}
      hot:  {type: gain, params: {gain_db: 6, smoothing_ms: 0}}
      main: {type: output}
    connections:
      - {from: tone, to: hot}
      - {from: hot, to: main}
"""


def clipped(page: Any, led: str) -> bool:
    return page.get_attribute(tid(led), "data-clipped") == "true"


def test_a_clip_latches_until_clicked(page: Any, tmp_path: Path) -> None:
    with aers_serve(write(tmp_path, CLIPPING)) as url:
        open_page(page, url)
        page.wait_for_selector(f'{tid("clip-hot-0")}[data-clipped="true"]', timeout=5000)
        assert not clipped(page, "clip-tone-0")  # -3 dBFS does not clip
        # Bring the level down: the meter falls, the LED stays lit.
        httpx.post(f"{url}/api/nodes/hot/params", json={"param": "gain_db", "value": -20})
        page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=\"meter-hot-0\"]')"
            ".getAttribute('data-peak-db')) < -20",
            timeout=5000,
        )
        assert clipped(page, "clip-hot-0") and clipped(page, "clip-hot-1")
        page.click(tid("clip-hot-0"))  # reset channel 1 only
        assert not clipped(page, "clip-hot-0") and clipped(page, "clip-hot-1")
        frames = page.evaluate("window.aers.frames")
        page.wait_for_function(f"() => window.aers.frames > {frames} + 10", timeout=5000)
        assert not clipped(page, "clip-hot-0")  # stays reset while nothing clips


def test_a_node_whose_xruns_rise_is_flagged(page: Any, tmp_path: Path, plugins: Path) -> None:
    # 10 µs: less than any round trip to a worker process, so every block is late.
    late = PLUGINS.replace("deadline_ms: 5000", "deadline_ms: 0.01, fallback: bypass")
    with aers_serve(write(tmp_path, late)) as url:
        open_page(page, url)
        page.wait_for_selector(f"{tid('graph-node-trem')}.alarm", timeout=15000)
        badge = page.locator(tid("badge-trem"))
        assert badge.is_visible() and "⚠" in (badge.text_content() or "")
        assert "late blocks (xruns)" in (
            page.locator(f"{tid('badge-trem')} title").text_content() or ""
        )
        page.wait_for_selector(f"{tid('load-row-trem')}.alarm", timeout=5000)
        assert "alarm" not in (page.get_attribute(tid("graph-node-room"), "class") or "")
        # The load table sorts like pw-top: by time per block, then by name on request.
        page.click(tid("sort-id"))
        rows = page.locator('[data-testid^="load-row-"]').evaluate_all(
            "rows => rows.map(r => r.dataset.node)")  # fmt: skip
        assert rows == sorted(rows, reverse=True) or rows == sorted(rows)


IMPULSES = """
    version: 1
    nodes:
      click: {type: impulse, params: {level_db: -6, every: 4800, channels: 1}}
      main:  {type: output}
    connections:
      - {from: click, to: main}
"""


def drag(page: Any, source: str, x: float, y: float) -> None:
    box = page.locator(source).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x - 40, y - 40, steps=8)
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def place(transform: str | None) -> list[float]:
    """The x, y of an SVG ``translate(x,y)``."""
    assert transform is not None and transform.startswith("translate(")
    return [float(v) for v in transform[len("translate(") : -1].split(",")]


def centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def between_clicks(audio: np.ndarray, stamps: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Recorded samples in [lo, hi) that are not on the impulse grid."""
    keep = (stamps >= lo) & (stamps < hi) & (stamps % 4800 != 0)
    return audio[keep]


def test_a_reverb_dragged_onto_a_cable_is_heard_journalled_and_undone(
    page: Any, tmp_path: Path
) -> None:
    config = write(tmp_path, IMPULSES)
    record = tmp_path / "rec"
    with aers_serve(config, "--record", str(record), "--record-seconds", "30") as url:
        open_page(page, url)
        original = httpx.get(f"{url}/api/config").json()
        page.click(tid("add-node"))
        page.wait_for_selector(tid("palette-type-reverb"))
        drag(page, tid("palette-type-reverb"), *centre(page, tid("cable-click-main-main")))
        page.wait_for_selector(tid("graph-node-reverb1"), timeout=10000)
        assert page.locator(tid("edge-click-reverb1")).count() == 1
        assert page.locator(tid("edge-reverb1-main")).count() == 1
        journal = httpx.get(f"{url}/api/edits").json()["journal"]
        assert [e["who"] for e in journal] == ["dashboard"]
        assert journal[0]["ops"] == [
            {"op": "add_node", "id": "reverb1", "type": "reverb", "params": {}},
            {"op": "disconnect", "from": "click", "to": "main"},
            {"op": "connect", "from": "click", "to": "reverb1", "gain_db": 0},
            {"op": "connect", "from": "reverb1", "to": "main"},
        ]
        page.wait_for_timeout(1500)  # let the reverb ring into the recording

        page.click(tid("undo"))
        page.wait_for_selector(tid("graph-node-reverb1"), state="detached", timeout=10000)
        page.wait_for_selector(tid("edge-click-main"), state="attached", timeout=5000)
        journal = httpx.get(f"{url}/api/edits").json()["journal"]
        assert [e["who"] for e in journal] == ["dashboard", "undo"]
        live = httpx.get(f"{url}/api/config").json()
        assert (live["nodes"], live["connections"]) == (original["nodes"], original["connections"])
        assert page.is_disabled(tid("undo")) is False  # the undo itself can be undone
        page.wait_for_timeout(1000)
    audio, rate = sf.read(record / "main.wav", dtype="float32", always_2d=True)
    blocks = json.loads((record / "main.json").read_text())["blocks"]
    stamps = np.concatenate([np.arange(start, start + frames) for start, frames, _ in blocks])
    audio = audio[: len(stamps), 0]
    added, undone = journal[0]["sample"], journal[1]["sample"]
    assert added < undone < stamps[-1] - rate // 2
    # Before the edit: nothing but the clicks. With the reverb: a tail between them.
    # After the undo has faded out: nothing but the clicks again.
    assert np.abs(between_clicks(audio, stamps, 0, added)).max() == 0.0
    tail = between_clicks(audio, stamps, added + rate // 5, undone)
    assert np.sqrt(np.mean(tail**2)) > 1e-4, "the reverb is not heard"
    assert np.abs(between_clicks(audio, stamps, undone + rate // 2, stamps[-1])).max() == 0.0


GAIN = graph(SINE_GAIN, version=1)


def test_refused_edits_and_controls_show_the_servers_message(page: Any, tmp_path: Path) -> None:
    with aers_serve(write(tmp_path, GAIN)) as url:
        open_page(page, url)
        # A cable from g's output back into g's input makes a loop without a delay.
        loop = {"op": "connect", "from": "g", "to": "g"}
        expected = httpx.post(f"{url}/api/edits", json=loop).json()["message"]
        drag(page, tid("port-out-g"), *centre(page, tid("port-main-g")))
        page.wait_for_function(
            "m => document.querySelector('[data-testid=\"graph-error\"]').textContent.includes(m)",
            arg=expected,
            timeout=5000,
        )
        assert httpx.get(f"{url}/api/edits").json()["journal"] == []
        # A parameter out of range, typed with the keyboard: refused beside the field.
        page.fill(tid("value-g-gain_db"), "99")
        page.press(tid("value-g-gain_db"), "Enter")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"param-error-g-gain_db\"]')"
            ".textContent.includes('gain_db=99 is outside')",
            timeout=5000,
        )
        # A node dragged elsewhere stays there after a reload (the browser keeps it).
        node = tid("graph-node-tone")
        before = page.get_attribute(node, "transform")
        x, y = centre(page, f"{node} .title")
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 10, y + 60, steps=6)
        page.mouse.up()
        moved = page.get_attribute(node, "transform")
        assert moved != before
        page.reload()
        page.wait_for_selector(UP, timeout=15000)
        assert place(page.get_attribute(node, "transform")) == pytest.approx(place(moved), abs=1)
        # Keyboard patching: focus a cable, Enter, type a gain, Enter.
        page.focus(tid("cable-g-main-main"))
        page.keyboard.press("Enter")
        page.fill(tid("cable-gain"), "-6")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => window.aers.graph.edges.some(e => e.from === 'g' && e.gain_db === -6)",
            timeout=10000,
        )


EQ = graph(SINE_EQ, version=1)


def bands(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{url}/api/config").json()["nodes"]["eq1"]["params"]["bands"])


def wait_bands(url: str, expected: list[dict[str, Any]]) -> None:
    deadline = time.monotonic() + 10
    while bands(url) != expected:
        assert time.monotonic() < deadline, bands(url)
        time.sleep(0.1)


def test_eq_bands_are_edited_from_the_card(page: Any, tmp_path: Path) -> None:
    with aers_serve(write(tmp_path, EQ)) as url:
        open_page(page, url)
        page.wait_for_selector(tid("band-freq-eq1-0"))
        page.fill(tid("band-freq-eq1-0"), "2500")
        page.press(tid("band-freq-eq1-0"), "Tab")  # change fires: the node is replaced
        wait_bands(url, [{"type": "peak", "freq": 2500, "gain_db": 3, "q": 1.0}])
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"band-freq-eq1-0\"]').value === '2500'"
        )
        page.click(tid("band-add-eq1"))
        wait_bands(url, [{"type": "peak", "freq": 2500, "gain_db": 3, "q": 1.0},
                         {"type": "peak", "freq": 1000, "gain_db": 0, "q": 1}])  # fmt: skip
        page.wait_for_selector(tid("band-type-eq1-1"))
        page.select_option(tid("band-type-eq1-1"), "highshelf")
        wait_bands(url, [{"type": "peak", "freq": 2500, "gain_db": 3, "q": 1.0},
                         {"type": "highshelf", "freq": 1000, "gain_db": 0, "q": 1}])  # fmt: skip
        page.wait_for_selector(tid("band-remove-eq1-0"))
        page.click(tid("band-remove-eq1-0"))
        wait_bands(url, [{"type": "highshelf", "freq": 1000, "gain_db": 0, "q": 1}])
        whos = [e["who"] for e in httpx.get(f"{url}/api/edits").json()["journal"]]
        assert whos == ["dashboard"] * 4


def test_screenshot_of_the_demo(page: Any, plugins: Path) -> None:
    """Writes tests/artifacts/dashboard-demo.png (1400×900) for people to review."""
    page.set_viewport_size({"width": 1400, "height": 900})
    with aers_serve(ROOT / "examples" / "demo.yaml") as url:
        open_page(page, url)
        page.wait_for_function("() => window.aers.frames > 60", timeout=20000)
        page.click(tid("graph-node-master_eq"))  # its card: the filter type as a select
        page.wait_for_timeout(500)
        assert (
            page.locator(f"{tid('param-master_eq-filter_type')} option:checked").inner_text()
            == "high shelf"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-demo.png"))
    assert (ARTIFACTS / "dashboard-demo.png").stat().st_size > 50_000
