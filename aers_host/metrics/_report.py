"""The run report: one self-contained ``report.html`` (or PNGs + ``report.md``).

Figures, drawn with matplotlib's object API (``Figure``, no pyplot global state, no
display needed): levels over time with event markers, loudness over time per output
(momentary and short-term, with the integrated level and the loudness range), the gain
reduction of compressor/limiter/duck nodes (when the graph has any), the
block-propagation histogram against the block period, per-node process time, and the
routing graph in a left-to-right layered layout computed here (no graphviz). Every plotted
line has a legend entry; tables name their columns in words with units. HTML embeds the
PNGs as base64 so the report is a single file that can be mailed or attached to a CI run.

Example:
    >>> write_report(Path("out"), summary, series, events, [("a", "b")])  # doctest: +SKIP
    PosixPath('out/report.html')
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._extras import require_extra

if TYPE_CHECKING:
    from matplotlib.figure import Figure
else:

    def Figure(*args: Any, **kwargs: Any) -> Any:
        """Matplotlib's ``Figure``, imported with the first report (the ``report`` extra)."""
        require_extra("report", "report.html")
        from matplotlib.figure import Figure

        return Figure(*args, **kwargs)

_FLOOR_DB = -90.0
#: Event-category colours; the level traces use greys and purple so they never clash.
_COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
)
_TRACES = {"peak": "0.55", "rms": "0.1", "lufs": "tab:purple", "momentary": "tab:cyan"}
#: Table columns: metrics.json key → heading with its unit.
NODE_COLUMNS = {
    "p50_us": "median process time [µs]",
    "p99_us": "p99 process time [µs]",
    "max_us": "max process time [µs]",
    "cpu_percent": "CPU [% of block period]",
    "gain_reduction_max_db": "max gain reduction [dB]",
    "xruns": "xruns",
    "failed": "failed",
}
OUTPUT_COLUMNS = {
    "peak_dbfs": "sample peak [dBFS]",
    "true_peak_dbtp": "true peak [dBTP]",
    "rms_dbfs": "RMS [dBFS]",
    "integrated_lufs": "integrated loudness [LUFS]",
    "short_term_max_lufs": "max short-term loudness [LUFS]",
    "momentary_max_lufs": "max momentary loudness [LUFS]",
    "loudness_range_lu": "loudness range [LU]",
}
#: Figure headings, by figure name (also the PNG file name of a Markdown report).
TITLES = {
    "levels": "Levels over time",
    "loudness": "Loudness over time",
    "dynamics": "Gain reduction",
    "latency": "Block propagation",
    "cpu": "Process time per node",
    "graph": "Routing graph",
}


#: A connection: ``(from, to)`` or ``(from, to, port)``.
Edge = tuple[str, str] | tuple[str, str, str]


def _port(edge: Edge) -> str:
    return edge[2] if len(edge) == 3 else "main"


def _marker(event: Any) -> tuple[int, str, str]:
    """(start sample, category, id) of an Event or an event-log record."""
    if isinstance(event, Mapping):
        return int(event["at"]), str(event["category"]), str(event["id"])
    return int(event.at), str(event.category), str(event.id)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def levels_figure(series: Mapping[str, Any], events: Sequence[Any]) -> Figure:
    """Peak/RMS (and short-term LUFS) per metered node over time, events as dashed markers.

    Only events that start inside the rendered span are marked; colours are per category.
    """
    levels: Mapping[str, Mapping[str, Any]] = series["levels"]
    rows = max(1, len(levels))
    fig = Figure(figsize=(11, 2.6 * rows))
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    t = np.asarray(series["t"], np.float64)
    rate = float(series["sample_rate"])
    end = float(t[-1] + np.asarray(series["frames"])[-1] / rate) if t.size else 0.0
    shown = [m for m in map(_marker, events) if m[0] / rate <= end]
    categories = sorted({category for _, category, _ in shown})
    color = {c: _COLORS[i % len(_COLORS)] for i, c in enumerate(categories)}
    for ax, (node, lv) in zip(axes, levels.items(), strict=False):
        for key, label in (("peak", "peak dBFS"), ("rms", "RMS dBFS")):
            trace = np.maximum(lv[f"{key}_db"], _FLOOR_DB)
            ax.step(t, trace, where="post", lw=0.8, color=_TRACES[key], label=label)
        lufs = series.get("short_term_lufs", {}).get(node)
        if lufs is not None and len(lufs["lufs"]):
            trace = np.maximum(lufs["lufs"], _FLOOR_DB)
            ax.plot(lufs["t"], trace, lw=1.4, color=_TRACES["lufs"], label="short-term LUFS")
        for at, category, _ in shown:
            ax.axvline(at / rate, color=color[category], lw=0.8, ls="--", alpha=0.8)
        ax.set_ylabel(f"{node}\n[dB]")
        ax.set_ylim(_FLOOR_DB, 3)
        ax.set_xlim(0.0, max(end, 1e-3))
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()  # every panel names its own lines
        for category in categories:
            handles.append(ax.axvline(np.nan, color=color[category], lw=1.5, ls="--"))
            labels.append(f"event: {category}")
        if handles:
            ax.legend(handles, labels, loc="upper right", fontsize=7, ncol=2)
    axes[-1].set_xlabel("time [s]")
    fig.suptitle("Levels over time (markers: event starts)")
    return fig


def loudness_figure(series: Mapping[str, Any], summary: Mapping[str, Any]) -> Figure:
    """Momentary and short-term loudness of each output over time (EBU R 128 meters).

    The integrated loudness is a dashed line and the loudness range a shaded band when
    the output has them (``summary["outputs"]``).
    """
    short: Mapping[str, Mapping[str, Any]] = series.get("short_term_lufs", {})
    momentary: Mapping[str, Mapping[str, Any]] = series.get("momentary_lufs", {})
    names = list(dict.fromkeys([*momentary, *short]))
    fig = Figure(figsize=(11, 2.6 * max(1, len(names))))
    axes = fig.subplots(max(1, len(names)), 1, squeeze=False, sharex=True)[:, 0]
    outputs: Mapping[str, Mapping[str, Any]] = summary.get("outputs", {})
    for ax, node in zip(axes, names, strict=False):
        for data, key, label, width in (
            (momentary.get(node), "momentary", "momentary (400 ms) LUFS", 0.8),
            (short.get(node), "lufs", "short-term (3 s) LUFS", 1.4),
        ):
            if data is not None and len(data["lufs"]):
                trace = np.maximum(data["lufs"], _FLOOR_DB)
                ax.plot(data["t"], trace, lw=width, color=_TRACES[key], label=label)
        info = outputs.get(node, {})
        integrated = info.get("integrated_lufs")
        if isinstance(integrated, float) and math.isfinite(integrated):
            ax.axhline(integrated, color="0.2", ls="--", lw=1.0,
                       label=f"integrated {integrated:.1f} LUFS")  # fmt: skip
            lra = info.get("loudness_range_lu")
            if isinstance(lra, float) and lra > 0:
                ax.axhspan(integrated - lra / 2, integrated + lra / 2, color="tab:purple",
                           alpha=0.08, label=f"loudness range {lra:.1f} LU (centred)")  # fmt: skip
        ax.set_ylabel(f"{node}\n[LUFS]")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=7)
    axes[-1].set_xlabel("time [s] (end of each measuring window)")
    fig.suptitle("Loudness over time per output (ITU-R BS.1770-4 / EBU R 128)")
    return fig


def dynamics_figure(series: Mapping[str, Any]) -> Figure:
    """Gain reduction per block of every compressor/limiter/duck node, as a gain change."""
    reduction: Mapping[str, Any] = series.get("gain_reduction_db", {})
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    t = np.asarray(series["t"], np.float64)
    for i, (node, values) in enumerate(reduction.items()):
        change = -np.minimum(np.asarray(values, np.float64), -_FLOOR_DB)
        color = _COLORS[i % len(_COLORS)]
        ax.step(t, change, where="post", lw=1.0, color=color, label=f"{node} gain reduction")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("gain change [dB]")
    ax.grid(alpha=0.3)
    if reduction:
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Gain reduction per block (deepest in each block)")
    return fig


def latency_figure(series: Mapping[str, Any], summary: Mapping[str, Any]) -> Figure:
    """Histogram of block propagation time, with p99 and the real-time budget marked."""
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    us = np.asarray(series["block_us"], np.float64)
    if us.size:  # log bins: a JIT-warm-up outlier must not squash the typical blocks
        lo, hi = max(float(us.min()), 0.1), max(float(us.max()), 1.0)
        edges = np.geomspace(lo, max(hi, lo * 1.01, float(summary.get("block_period_us", 1.0))), 60)
        ax.hist(us, bins=edges.tolist(), color="tab:blue", alpha=0.8)
        ax.set_xscale("log")
    prop = summary.get("block_propagation_us", {})
    if "p99" in prop:
        ax.axvline(prop["p99"], color="tab:orange", label=f"p99 {prop['p99']:.0f} µs")
    if "block_period_us" in summary:
        ax.axvline(
            summary["block_period_us"],
            color="tab:red",
            label=f"block period {summary['block_period_us']:.0f} µs",
        )
    ax.set_xlabel("block propagation (first node in → last node out) [µs]")
    ax.set_ylabel("blocks")
    ax.set_title("Block propagation time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def cpu_figure(summary: Mapping[str, Any]) -> Figure:
    """Mean and p99 process time per node, as % of the block period."""
    nodes: Mapping[str, Mapping[str, float]] = summary.get("nodes", {})
    names = list(nodes)
    fig = Figure(figsize=(8, 0.45 * max(3, len(names)) + 1))
    ax = fig.subplots()
    period = float(summary.get("block_period_us", 1.0)) or 1.0
    mean = [100.0 * nodes[n].get("mean_us", 0.0) / period for n in names]
    p99 = [100.0 * nodes[n].get("p99_us", 0.0) / period for n in names]
    y = np.arange(len(names))
    ax.barh(y - 0.2, mean, height=0.4, color="tab:blue", label="mean process time")
    ax.barh(y + 0.2, p99, height=0.4, color="tab:orange", label="p99 process time")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("process time [% of block period]")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def layered_layout(
    edges: Sequence[tuple[str, str]], nodes: Sequence[str] = ()
) -> dict[str, tuple[float, float]]:
    """Positions for a left-to-right drawing: x = longest path from a source, y = rank.

    ``nodes`` in processing (topological) order mark feedback: an edge to a node that is
    not later in the order is a feedback edge and ignored for layering. Without an order,
    edges that close a cycle during the depth search are ignored instead.
    """
    names = list(dict.fromkeys([*nodes, *(n for e in edges for n in e)]))
    rank = {n: i for i, n in enumerate(nodes)}
    preds: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        if a not in rank or b not in rank or rank[a] < rank[b]:
            preds[b].append(a)
    layer: dict[str, int] = {}

    def depth(node: str, visiting: frozenset[str]) -> int:
        if node not in layer:
            ups = [p for p in preds[node] if p not in visiting]
            layer[node] = max((depth(p, visiting | {node}) + 1 for p in ups), default=0)
        return layer[node]

    for node in names:
        depth(node, frozenset())
    columns: dict[int, list[str]] = {}
    for node in names:
        columns.setdefault(layer[node], []).append(node)
    return {
        node: (float(x), (len(col) - 1) / 2.0 - i)
        for x, col in columns.items()
        for i, node in enumerate(col)
    }


def graph_figure(edges: Sequence[Edge], nodes: Sequence[str] = ()) -> Figure:
    """The routing graph: boxes in layers, arrows for connections.

    Feedback arrows curve in red; side-chain arrows (``(src, dst, "sidechain")``) are
    dashed, and do not push their destination into a later layer.
    """
    pos = layered_layout([(e[0], e[1]) for e in edges if _port(e) == "main"], nodes)
    for e in edges:
        pos.setdefault(e[0], (0.0, 0.0))
        pos.setdefault(e[1], (0.0, 0.0))
    width = max((x for x, _ in pos.values()), default=0.0) + 1
    height = max((abs(y) for _, y in pos.values()), default=0.0) * 2 + 1
    fig = Figure(figsize=(min(16, 2.4 * width + 1), min(10, 1.1 * height + 1)))
    ax = fig.subplots()
    for edge in edges:
        (xa, ya), (xb, yb) = pos[edge[0]], pos[edge[1]]
        back = xb <= xa and _port(edge) == "main"
        ax.annotate(
            "",
            xy=(xb, yb),
            xytext=(xa, ya),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "tab:red" if back else "0.3",
                "lw": 1.0,
                "shrinkA": 28,
                "shrinkB": 28,
                "connectionstyle": f"arc3,rad={0.4 if back else 0.15 if xb - xa > 1 else 0.0}",
                "linestyle": "--" if _port(edge) != "main" else "-",
            },
        )
    for node, (x, y) in pos.items():
        ax.text(
            x,
            y,
            node,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "fc": "#eef3fb", "ec": "tab:blue"},
        )
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(-height / 2, height / 2)
    ax.axis("off")
    ax.set_title("Routing graph")
    return fig


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "−∞" if value == -math.inf else ("n/a" if math.isnan(value) else f"{value:.2f}")
    return html.escape(str(value))


def _table(rows: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """An HTML table: one row per node/output, one column per key, headed in words."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("", *columns.values()))
    body = "".join(
        "<tr><td>"
        + html.escape(name)
        + "</td>"
        + "".join(f"<td>{_fmt(row.get(c, ''))}</td>" for c in columns)
        + "</tr>"
        for name, row in rows.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _markdown_table(rows: Mapping[str, Mapping[str, Any]], columns: Mapping[str, str]) -> str:
    """The same table as :func:`_table`, as GitHub-flavoured Markdown."""
    lines = ["| | " + " | ".join(columns.values()) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [html.unescape(_fmt(row.get(c, ""))).replace("|", "\\|") for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_figures(
    summary: Mapping[str, Any],
    timeseries: Mapping[str, Any],
    events: Sequence[Any],
    graph_edges: Sequence[Edge],
) -> dict[str, Figure]:
    """The report's figures by name, in page order (loudness and dynamics when there is any)."""
    figures = {"levels": levels_figure(timeseries, events)}
    if timeseries.get("short_term_lufs") or timeseries.get("momentary_lufs"):
        figures["loudness"] = loudness_figure(timeseries, summary)
    if timeseries.get("gain_reduction_db"):
        figures["dynamics"] = dynamics_figure(timeseries)
    return figures | {
        "latency": latency_figure(timeseries, summary),
        "cpu": cpu_figure(summary),
        "graph": graph_figure(graph_edges, list(summary.get("nodes", {}))),
    }


def write_report(
    out_dir: Path,
    summary: Mapping[str, Any],
    timeseries: Mapping[str, Any],
    events: Sequence[Any],
    graph_edges: Sequence[Edge],
    *,
    fmt: Literal["html", "markdown"] = "html",
    title: str = "AERS run report",
) -> Path:
    """Draw the figures and write ``report.html`` (or ``report.md`` + PNGs).

    Args:
        out_dir: folder to write into (created if missing).
        summary: :meth:`MetricsCollector.summary`.
        timeseries: :meth:`MetricsCollector.timeseries`.
        events: scene events (``Event``) or event-log records, for markers.
        graph_edges: ``(from, to)`` or ``(from, to, port)`` connections of the graph.
        fmt: ``html`` (one file, images inline) or ``markdown`` (PNG files beside it).
        title: page heading.

    Returns:
        The path of the written report.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = report_figures(summary, timeseries, events, graph_edges)
    images = {name: _png(fig) for name, fig in figures.items()}
    prop = summary.get("block_propagation_us", {})
    facts = (
        f"{summary.get('audio_seconds', 0):.2f} s of audio, {summary.get('blocks', 0)} blocks "
        f"of {summary.get('block_size', 0)} at {summary.get('sample_rate', 0)} Hz; RTF "
        f"{summary.get('rtf', 0):.4f}; propagation p99 {prop.get('p99', 0):.0f} µs; "
        f"{_timing_facts(summary)}; events "
        f"{len(events)} (max {summary.get('events', {}).get('in_flight_max', 0)} at once)"
    )
    if fmt == "markdown":
        for name, data in images.items():
            (out_dir / f"{name}.png").write_bytes(data)
        lines = [f"# {title}", "", facts, ""]
        lines += ["## Outputs", _markdown_table(summary.get("outputs", {}), OUTPUT_COLUMNS)]
        lines += ["## Nodes", _markdown_table(summary.get("nodes", {}), NODE_COLUMNS)]
        lines += [f"## {TITLES[name]}\n\n![{name}]({name}.png)" for name in images]
        path = out_dir / "report.md"
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        return path
    imgs = "".join(
        f'<h2>{TITLES[name]}</h2><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}">'
        for name, data in images.items()
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(facts)}</p>"
        f"<h2>Outputs</h2>{_table(summary.get('outputs', {}), OUTPUT_COLUMNS)}"
        f"<h2>Nodes</h2>{_table(summary.get('nodes', {}), NODE_COLUMNS)}{imgs}</body></html>\n"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _timing_facts(summary: Mapping[str, Any]) -> str:
    """What the run's timing says: real-time misses, or an offline render's fitness for it.

    An offline render waits for every node, so a slow block is no damage to the file: its
    count says how the graph would fare in real time (architecture.md, Timing modes).
    """
    slow = summary.get("deadline_misses", 0)
    if summary.get("timing_mode") == "offline":
        return (
            f"offline: {slow} blocks took longer than a block period of work (would miss "
            f"real time); {summary.get('substituted_samples', 0)} samples substituted"
        )
    return f"deadline misses {slow}; xruns {summary.get('xruns', 0)}"
