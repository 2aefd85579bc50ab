"""export_run: what metrics.json ends up saying when callers add their own facts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def test_a_paced_runs_own_deadline_misses_replace_the_budget_count(tmp_path: Path) -> None:
    """``aers run`` reports lateness against the wall clock; metrics.json must say the same."""
    from aers_host.graph import BlockTimings
    from aers_host.metrics import MetricsCollector, export_run

    slow = np.full(4, 20_000_000, np.int64)  # 20 ms per 512-frame block: over a 10.7 ms budget
    timings = BlockTimings(
        slow.reshape(4, 1).copy(), slow, np.arange(4) * 512, np.full(4, 512, np.int64), 4
    )
    collector = MetricsCollector.from_timings(timings, ["n"], sample_rate=48000, block_size=512)
    assert collector.summary()["deadline_misses"] == 4
    summary = export_run(collector, tmp_path, overrides={"deadline_misses": 1})
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["deadline_misses"] == written["deadline_misses"] == 1
