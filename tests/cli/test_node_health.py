"""Contained plugin failures are reported on the terminal, not only in metrics.json."""

from __future__ import annotations

import pytest

from aers_host.cli._graph import report_node_health


def test_each_unhealthy_node_gets_one_warning_line(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = {
        "nodes": {
            "fine": {"xruns": 0, "nan_blocks": 0, "restarts": 0, "failed": False},
            "hx": {"xruns": 938, "nan_blocks": 0, "restarts": 2, "failed": True,
                   "failure_reason": "process() raised ValueError: x"},
            "nan": {"xruns": 0, "nan_blocks": 94, "restarts": 0, "failed": False},
            "eq": {"p50_us": 3.0},  # built-ins carry no health fields
        }
    }  # fmt: skip
    report_node_health(metrics)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "warning: node 'hx': failed (process() raised ValueError: x); its fallback played; "
        "938 blocks late (fallback audio); 2 worker restarts",
        "warning: node 'nan': 94 blocks of NaN/Inf replaced",
    ]


def test_brackets_in_a_failure_reason_survive(capsys: pytest.CaptureFixture[str]) -> None:
    report_node_health({"nodes": {"n": {"failed": True, "failure_reason": "[Errno 2] gone"}}})
    assert "failed ([Errno 2] gone)" in capsys.readouterr().err
