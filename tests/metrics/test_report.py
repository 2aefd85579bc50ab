"""Reports: one HTML file with inline PNGs (or Markdown + PNGs), and the graph layout."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from aers_host.events import Event
from aers_host.metrics import MetricsCollector, layered_layout, write_report
from aers_host.metrics._report import (
    NODE_COLUMNS,
    OUTPUT_COLUMNS,
    _table,
    dynamics_figure,
    levels_figure,
    loudness_figure,
    report_figures,
)

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
    blocks = 320  # 3.4 s: long enough for short-term (3 s) loudness
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
    c.set_gain_reduction("duck", np.linspace(0.0, 12.0, blocks).astype(np.float32))
    return c


EVENTS = [
    Event("step", "footsteps", 4800, {"generator": "impulse"}, to="amb"),
    Event("line", "dialogue", 24000, {"generator": "impulse"}, to="dlg"),
    Event("late", "dialogue", 10 * SR, {"generator": "impulse"}, to="dlg"),
]


def test_html_report_is_one_file_with_every_figure(tmp_path: Path) -> None:
    c = collector()
    path = write_report(tmp_path / "r", c.summary(), c.timeseries(), EVENTS, EDGES)
    assert path == tmp_path / "r" / "report.html"
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert re.findall(r'<img alt="(\w+)"', page) == [
        "levels", "loudness", "dynamics", "latency", "cpu", "graph",
    ]  # fmt: skip
    assert all(base64.b64decode(img).startswith(PNG) for img in images)
    assert "<td>out</td>" in page and "<h2>Loudness over time</h2>" in page
    assert list((tmp_path / "r").iterdir()) == [path]


def test_tables_name_columns_in_words_with_units() -> None:
    summary = collector().summary()
    page = _table(summary["outputs"], OUTPUT_COLUMNS) + _table(summary["nodes"], NODE_COLUMNS)
    headings = re.findall(r"<th>([^<]*)</th>", page)
    for key, heading in {**NODE_COLUMNS, **OUTPUT_COLUMNS}.items():
        assert heading in headings and (key == heading or key not in headings)
    assert "max gain reduction [dB]" in headings and "loudness range [LU]" in headings
    assert not [h for h in headings if "_" in h]  # no raw metrics.json keys


def test_without_dynamics_nodes_there_is_no_gain_reduction_figure() -> None:
    c = collector()
    c.gain_reduction.clear()
    figures = report_figures(c.summary(), c.timeseries(), [], EDGES)
    assert list(figures) == ["levels", "loudness", "latency", "cpu", "graph"]


def _labels(fig) -> list[str]:  # type: ignore[no-untyped-def]
    """Labels of every plotted data line (event markers are drawn without data)."""
    return [
        str(line.get_label())
        for ax in fig.axes
        for line in ax.get_lines()
        if np.isfinite(np.asarray(line.get_ydata(), float)).any() and len(line.get_xdata()) > 2
    ]


def test_every_plotted_line_is_labelled_and_in_a_legend() -> None:
    c = collector()
    series, summary = c.timeseries(), c.summary()
    for fig in (levels_figure(series, EVENTS), loudness_figure(series, summary),
                dynamics_figure(series)):  # fmt: skip
        labels = _labels(fig)
        assert labels and not [label for label in labels if label.startswith("_")]
        legends = [text.get_text() for ax in fig.axes if ax.get_legend() for text in
                   ax.get_legend().get_texts()]  # fmt: skip
        assert set(labels) <= set(legends)


def test_loudness_figure_draws_momentary_short_term_and_integrated_per_output() -> None:
    c = collector()
    fig = loudness_figure(c.timeseries(), c.summary())
    labels = {str(line.get_label()) for line in fig.axes[0].get_lines()}
    integrated = c.summary()["outputs"]["out"]["integrated_lufs"]
    assert {"momentary (400 ms) LUFS", "short-term (3 s) LUFS"} <= labels
    assert f"integrated {integrated:.1f} LUFS" in labels
    assert fig.axes[0].get_ylabel() == "out\n[LUFS]"


def test_gain_reduction_trace_is_the_collected_one_as_a_gain_change() -> None:
    c = collector()
    fig = dynamics_figure(c.timeseries())
    (line,) = fig.axes[0].get_lines()
    assert line.get_label() == "duck gain reduction"
    np.testing.assert_allclose(line.get_ydata(), -c.gain_reduction["duck"], atol=1e-6)


def test_event_log_records_work_as_markers(tmp_path: Path) -> None:
    c = collector()
    records = [e.to_record() for e in EVENTS]
    assert write_report(tmp_path, c.summary(), c.timeseries(), records, EDGES).exists()


def test_markdown_report_writes_pngs_beside_it(tmp_path: Path) -> None:
    c = collector()
    path = write_report(tmp_path, c.summary(), c.timeseries(), EVENTS, EDGES, fmt="markdown")
    text = path.read_text(encoding="utf-8")
    assert "| | sample peak [dBFS] | true peak [dBTP] |" in text  # tables, named in words
    assert "| duck | " in text and "p50_us" not in text
    for name in ("levels", "loudness", "dynamics", "latency", "cpu", "graph"):
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
