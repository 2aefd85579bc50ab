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


METERED = """\
duration: 0.5
nodes:
  tone: {type: sine, params: {freq: 1000, level_db: -6}}
  m: {type: meter}
  main: {type: output}
connections:
  - {from: tone, to: m}
  - {from: m, to: main}
"""


def test_a_meter_nodes_levels_are_reported(tmp_path: Path, aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "g.yaml"
    config.write_text(METERED, encoding="utf-8")
    prom = tmp_path / "m.prom"
    csv = tmp_path / "m.csv"
    args = ("render", config, "--out-dir", tmp_path / "o", "--prometheus", prom, "--csv", csv)
    result = run_cli(*args)
    assert result.code == 0, result.err
    meter = json.loads((tmp_path / "o" / "metrics.json").read_text())["outputs"]["m"]
    assert abs(meter["peak_dbfs"] + 6.0) < 0.01  # a -6 dBFS sine
    assert abs(meter["rms_dbfs"] + 9.03) < 0.05  # and its RMS, 3 dB lower
    assert 'aers_output_peak_dbfs{output="m"}' in prom.read_text()
    assert "m_peak_db" in csv.read_text().splitlines()[0]
