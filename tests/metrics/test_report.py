"""Reports: one HTML file with inline PNGs (or Markdown + PNGs), and the graph layout."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from aers_host.events import Event
from aers_host.metrics import MetricsCollector, layered_layout, write_report

SR = 48000
PNG = b"\x89PNG\r\n\x1a\n"
EDGES = [
    ("amb", "duck"),
    ("dlg", "duck", "sidechain"),
    ("duck", "bus"),
    ("dlg", "bus"),
    ("bus", "dly"),
    ("dly", "bus"),
    ("bus", "out"),
]


def collector() -> MetricsCollector:
    blocks = 200
    c = MetricsCollector(
        ["amb", "dlg", "duck", "bus", "dly", "out"], blocks, sample_rate=SR, block_size=512
    )
    rng = np.random.default_rng(1)
    c.node_ns[:] = rng.integers(1000, 50_000, c.node_ns.shape)
    c.block_ns[:] = c.node_ns.sum(axis=1)
    c.starts[:] = np.arange(blocks) * 512
    c.frames[:] = 512
    c.count = blocks
    t = np.arange(blocks * 512) / SR
    c.add_audio("out", np.stack([0.1 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32))
    return c


EVENTS = [
    Event("step", "footsteps", 4800, {"generator": "impulse"}, to="amb"),
    Event("line", "dialogue", 24000, {"generator": "impulse"}, to="dlg"),
    Event("late", "dialogue", 10 * SR, {"generator": "impulse"}, to="dlg"),
]


def test_html_report_is_one_file_with_four_images(tmp_path: Path) -> None:
    c = collector()
    path = write_report(tmp_path / "r", c.summary(), c.timeseries(), EVENTS, EDGES)
    assert path == tmp_path / "r" / "report.html"
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 4
    assert all(base64.b64decode(img).startswith(PNG) for img in images)
    assert "<td>out</td>" in page and "integrated_lufs" in page
    assert list((tmp_path / "r").iterdir()) == [path]


def test_event_log_records_work_as_markers(tmp_path: Path) -> None:
    c = collector()
    records = [e.to_record() for e in EVENTS]
    assert write_report(tmp_path, c.summary(), c.timeseries(), records, EDGES).exists()


def test_markdown_report_writes_pngs_beside_it(tmp_path: Path) -> None:
    c = collector()
    path = write_report(tmp_path, c.summary(), c.timeseries(), EVENTS, EDGES, fmt="markdown")
    text = path.read_text(encoding="utf-8")
    for name in ("levels", "latency", "cpu", "graph"):
        assert f"![{name}]({name}.png)" in text
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG)


def test_layout_layers_left_to_right_and_ignores_feedback() -> None:
    order = ["amb", "dlg", "duck", "bus", "dly", "out"]
    pos = layered_layout([(e[0], e[1]) for e in EDGES if len(e) == 2], order)
    x = {n: p[0] for n, p in pos.items()}
    assert x["amb"] == x["dlg"] == 0
    assert x["duck"] < x["bus"] < x["out"] and x["dly"] == x["out"]
    assert len(set(pos.values())) == len(pos)  # no two boxes on the same spot


def test_layout_without_order_survives_cycles() -> None:
    pos = layered_layout([("a", "b"), ("b", "c"), ("c", "b")])
    assert pos["a"][0] == 0 and pos["b"][0] >= 1
