"""Prometheus text exposition format 0.0.4, checked line by line."""

from __future__ import annotations

import math
import re

from aers_host.metrics import prometheus_text

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?Inf|NaN|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
SAMPLE = re.compile(rf"^({NAME})(\{{{LABEL}(?:,{LABEL})*\}})? ({VALUE})$")
HELP = re.compile(rf"^# HELP ({NAME}) .+$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|summary|histogram|untyped)$")

SUMMARY = {
    "blocks": 10,
    "rtf": 0.01,
    "xruns": 2,
    "deadline_misses": 0,
    "cpu": {"process_percent": 12.5, "workers_percent": {"fx": 3.0}},
    "block_propagation_us": {"p50": 40.0, "p99": 90.0, "max": 120.0, "mean": 45.0},
    "events": {"count": 3, "in_flight_max": 2},
    "nodes": {
        'we"ird\\node\n': {
            "p50_us": 1.0,
            "p99_us": 2.0,
            "max_us": 3.0,
            "mean_us": 1.5,
            "cpu_percent": 0.1,
            "xruns": 2,
        },
        "out": {"p50_us": 1.0, "p99_us": 2.0, "max_us": 3.0, "mean_us": 1.5, "cpu_percent": 0.1},
    },
    "outputs": {
        "out": {
            "peak_dbfs": -math.inf,
            "rms_dbfs": -30.0,
            "integrated_lufs": -23.0,
            "true_peak_dbtp": -1.0,
            "short_term_max_lufs": -20.0,
        }
    },
}


def parse(text: str) -> dict[str, list[tuple[str, str, float]]]:
    """A tiny exposition-format parser: validates every line, returns samples per family."""
    assert text.endswith("\n")
    families: dict[str, list[tuple[str, str, float]]] = {}
    declared: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if m := HELP.match(line):
            assert m.group(1) not in helped, f"second HELP for {m.group(1)}"
            helped.add(m.group(1))
        elif m := TYPE.match(line):
            assert m.group(1) not in declared, f"second TYPE for {m.group(1)}"
            assert m.group(1) in helped
            declared[m.group(1)] = m.group(2)
            families[m.group(1)] = []
        else:
            m = SAMPLE.match(line)
            assert m, f"not a valid sample line: {line!r}"
            name = m.group(1)
            # 0.0.4: a sample is named like its family, but for a summary's _sum/_count
            family = next(
                f
                for f in declared
                if name == f
                or (declared[f] == "summary" and name in (f"{f}_sum", f"{f}_count"))
            )
            value = m.group(3)
            families[family].append((name, m.group(2) or "", float(value.replace("Inf", "inf"))))
    return families


def test_every_line_is_valid_exposition_format() -> None:
    families = parse(prometheus_text(SUMMARY))
    assert families["aers_blocks_total"] == [("aers_blocks_total", "", 10.0)]
    assert ("aers_node_process_seconds", '{node="out",quantile="0.99"}', 2e-6) in families[
        "aers_node_process_seconds"
    ]
    assert ("aers_node_process_seconds_count", '{node="out"}', 10.0) in families[
        "aers_node_process_seconds"
    ]
    assert families["aers_output_peak_dbfs"] == [
        ("aers_output_peak_dbfs", '{output="out"}', -math.inf)
    ]
    assert families["aers_worker_cpu_percent"][0][2] == 3.0
    assert families["aers_xruns_total"] == [("aers_xruns_total", "", 2.0)]


def test_label_values_are_escaped() -> None:
    text = prometheus_text(SUMMARY)
    assert 'node="we\\"ird\\\\node\\n"' in text
    parse(text)


def test_types_match_semantics() -> None:
    text = prometheus_text(SUMMARY)
    assert "# TYPE aers_node_process_seconds summary" in text
    assert "# TYPE aers_blocks_total counter" in text
    assert "# TYPE aers_output_integrated_lufs gauge" in text


def test_minimal_summary() -> None:
    families = parse(prometheus_text({"blocks": 0, "nodes": {}, "outputs": {}}))
    assert list(families) == ["aers_blocks_total"]

