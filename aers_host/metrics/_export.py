r"""Exporters: ``metrics.json``, a per-block CSV time series, Prometheus text format 0.0.4.

The Prometheus text follows the exposition format: one ``# HELP`` and one ``# TYPE`` line
per family, then its samples; label values escape ``\\``, ``"`` and newlines; non-finite
values are written ``+Inf``/``-Inf``/``NaN``. Process times are a ``summary`` (quantiles
0.5/0.99 plus ``_sum``/``_count``) in seconds, the Prometheus base unit.

Example:
    >>> text = prometheus_text({"blocks": 2, "nodes": {}, "outputs": {}})
    >>> "aers_blocks_total 2" in text
    True
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._json import dumps


def write_json(summary: Mapping[str, Any], path: Path) -> Path:
    """Write the summary as indented JSON (``-inf`` dB of silence becomes ``null``)."""
    path.write_text(dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path


def write_csv(series: Mapping[str, Any], path: Path) -> Path:
    """One row per block: start, time, frames, propagation, events, node times, levels, GR."""
    node_us: Mapping[str, Any] = series["node_us"]
    levels: Mapping[str, Mapping[str, Any]] = series["levels"]
    header = ["block", "start", "time_s", "frames", "block_us", "in_flight"]
    header += [f"{node}_us" for node in node_us]
    header += [f"{node}_{kind}" for node in levels for kind in ("peak_db", "rms_db")]
    reduction: Mapping[str, Any] = series.get("gain_reduction_db", {})
    header += [f"{node}_gain_reduction_db" for node in reduction]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for b in range(len(series["start"])):
            row: list[Any] = [
                b,
                int(series["start"][b]),
                f"{series['t'][b]:.6f}",
                int(series["frames"][b]),
                f"{series['block_us'][b]:.3f}",
                int(series["in_flight"][b]),
            ]
            row += [f"{values[b]:.3f}" for values in node_us.values()]
            row += [
                f"{lv[kind][b]:.2f}" for lv in levels.values() for kind in ("peak_db", "rms_db")
            ]
            row += [f"{values[b]:.2f}" for values in reduction.values()]
            writer.writerow(row)
    return path


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


class _Families:
    """Collects samples per metric family so HELP/TYPE appear once, before the samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[str, Mapping[str, str], float | int | None]],
    ) -> None:
        rows = list(samples)
        if not rows:
            return
        if kind == "counter":  # text format 0.0.4 types the sample's own name: x_total
            name = f"{name}_total"
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for suffix, labels, value in rows:
            label = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(
                f"{name}{suffix}{{{label}}} {_number(value)}"
                if label
                else f"{name}{suffix} {_number(value)}"
            )


def prometheus_text(summary: Mapping[str, Any]) -> str:
    """The summary as Prometheus text exposition format 0.0.4 (ends with a newline)."""
    out = _Families()
    nodes: Mapping[str, Mapping[str, Any]] = summary.get("nodes", {})
    outputs: Mapping[str, Mapping[str, Any]] = summary.get("outputs", {})
    blocks = int(summary.get("blocks", 0))
    out.family("aers_blocks", "counter", "Blocks processed.", [("", {}, blocks)])
    out.family(
        "aers_node_process_seconds",
        "summary",
        "Per-node process() time per block.",
        [
            row
            for node, s in nodes.items()
            for row in (
                ("", {"node": node, "quantile": "0.5"}, s.get("p50_us", 0.0) / 1e6),
                ("", {"node": node, "quantile": "0.99"}, s.get("p99_us", 0.0) / 1e6),
                ("_sum", {"node": node}, s.get("mean_us", 0.0) * blocks / 1e6),
                ("_count", {"node": node}, blocks),
            )
        ],
    )
    out.family(
        "aers_node_process_max_seconds",
        "gauge",
        "Slowest block of each node.",
        [("", {"node": n}, s.get("max_us", 0.0) / 1e6) for n, s in nodes.items()],
    )
    out.family(
        "aers_node_cpu_percent",
        "gauge",
        "Mean process time as % of the block period.",
        [("", {"node": n}, s.get("cpu_percent", 0.0)) for n, s in nodes.items()],
    )
    out.family(
        "aers_node_xruns",
        "counter",
        "Missed deadlines of sandboxed nodes.",
        [("", {"node": n}, s["xruns"]) for n, s in nodes.items() if "xruns" in s],
    )
    remote = {n: s["remote"] for n, s in nodes.items() if isinstance(s.get("remote"), Mapping)}
    if remote:
        out.family(
            "aers_remote_rtt_seconds",
            "gauge",
            "Network round trip of each remote node's blocks.",
            [
                ("", {"node": n, "stat": k}, r["rtt_us"][k] / 1e6)
                for n, r in remote.items()
                for k in ("p50", "p99", "max")
            ],
        )
        for key, text in (
            ("late_blocks", "Blocks a remote node answered too late (fallback audio)."),
            ("dropped_blocks", "Blocks a remote node never answered."),
            ("reconnects", "Reconnections to each remote node."),
        ):
            out.family(
                f"aers_remote_{key}",
                "counter",
                text,
                [("", {"node": n}, r.get(key, 0)) for n, r in remote.items()],
            )
        out.family(
            "aers_remote_connected",
            "gauge",
            "1 while the remote node is connected.",
            [("", {"node": n}, int(bool(r.get("connected")))) for n, r in remote.items()],
        )
    prop = summary.get("block_propagation_us", {})
    if prop:
        out.family(
            "aers_block_propagation_seconds",
            "gauge",
            "Wall time from the first node's input to the last node's output.",
            [("", {"stat": k}, v / 1e6) for k, v in prop.items()],
        )
    scalars = [
        ("aers_deadline_misses", "counter", "Blocks slower than real time.", "deadline_misses"),
        ("aers_xruns", "counter", "Xruns summed over all nodes.", "xruns"),
        ("aers_rtf", "gauge", "Wall seconds per audio second.", "rtf"),
    ]
    for name, kind, text, key in scalars:
        if key in summary:
            out.family(name, kind, text, [("", {}, summary[key])])
    cpu = summary.get("cpu", {})
    if cpu:
        out.family(
            "aers_process_cpu_percent",
            "gauge",
            "CPU of the host process (% of a core).",
            [("", {}, cpu.get("process_percent", 0.0))],
        )
        out.family(
            "aers_worker_cpu_percent",
            "gauge",
            "CPU of each sandbox worker (% of a core).",
            [("", {"node": n}, v) for n, v in cpu.get("workers_percent", {}).items()],
        )
    events = summary.get("events", {})
    if events:
        out.family(
            "aers_events_in_flight_max",
            "gauge",
            "Most events sounding at once.",
            [("", {}, events.get("in_flight_max", 0))],
        )
    for key, name, text in (
        ("peak_dbfs", "aers_output_peak_dbfs", "Sample peak of each output."),
        ("rms_dbfs", "aers_output_rms_dbfs", "RMS level of each output."),
        ("true_peak_dbtp", "aers_output_true_peak_dbtp", "True peak (4x oversampled)."),
        ("integrated_lufs", "aers_output_integrated_lufs", "BS.1770 integrated loudness."),
        ("short_term_max_lufs", "aers_output_short_term_max_lufs", "Loudest 3 s window."),
        ("loudness_range_lu", "aers_output_loudness_range_lu", "EBU Tech 3342 loudness range."),
    ):
        out.family(
            name,
            "gauge",
            text,
            [("", {"output": o}, v[key]) for o, v in outputs.items() if key in v],
        )
    out.family(
        "aers_node_gain_reduction_max_db",
        "gauge",
        "Deepest gain reduction of each compressor/limiter/duck node.",
        [
            ("", {"node": n}, v["gain_reduction_max_db"])
            for n, v in nodes.items()
            if "gain_reduction_max_db" in v
        ],
    )
    return "\n".join(out.lines) + "\n"
