"""MetricsCollector: timings in place, levels per block, health, derived summary."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from aers_host._features import NodeHealth
from aers_host.metrics import MetricsCollector

SR = 48000


@dataclass
class FakeTimings:
    """The shape of graph.BlockTimings."""

    node_ns: np.ndarray = field(default_factory=lambda: np.zeros((8, 2), np.int64))
    block_ns: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    frames: np.ndarray = field(default_factory=lambda: np.zeros(8, np.int64))
    count: int = 0


class Sandboxed:
    """A plugin node that reports its failures (``ReportsHealth``)."""

    def health(self) -> NodeHealth:
        return NodeHealth(
            xruns=3, nan_blocks=1, restarts=2, failed=True, failure_reason="worker crashed 3 times"
        )


def filled(blocks: int = 100, block: int = 512) -> MetricsCollector:
    c = MetricsCollector(["src", "fx"], blocks, sample_rate=SR, block_size=block)
    c.node_ns[:, 0] = 1000  # 1 µs
    c.node_ns[:, 1] = np.arange(blocks) * 1000  # 0 … 99 µs
    c.block_ns[:] = c.node_ns.sum(axis=1)
    c.starts[:] = np.arange(blocks) * block
    c.frames[:] = block
    c.count = blocks
    return c


def test_percentiles_per_node_and_for_propagation() -> None:
    s = filled().summary()
    assert s["nodes"]["src"]["p50_us"] == 1.0
    assert s["nodes"]["fx"]["p50_us"] == pytest.approx(49.5)
    assert s["nodes"]["fx"]["p99_us"] == pytest.approx(98.01)
    assert s["nodes"]["fx"]["max_us"] == 99.0
    assert s["block_propagation_us"]["max"] == 100.0
    assert s["blocks"] == 100 and s["frames"] == 51200
    period_us = 512 / SR * 1e6
    assert s["block_period_us"] == pytest.approx(period_us)
    assert s["nodes"]["fx"]["cpu_percent"] == pytest.approx(100 * 49.5 / period_us)
    assert s["deadline_misses"] == 0


def test_deadline_misses_count_blocks_slower_than_real_time() -> None:
    c = filled()
    c.block_ns[[3, 7]] = 20_000_000  # 20 ms > 10.7 ms
    assert c.summary()["deadline_misses"] == 2


def test_engine_timings_are_adopted_without_copy() -> None:
    t = FakeTimings()
    c = MetricsCollector.from_timings(t, ["a", "b"], sample_rate=SR, block_size=64)
    t.node_ns[0] = (5000, 7000)
    t.frames[0] = 64
    t.count = 1
    assert c.count == 1
    assert c.summary()["nodes"]["b"]["max_us"] == 7.0


def test_add_audio_fills_per_block_levels_with_a_short_last_block() -> None:
    c = MetricsCollector(["out"], 3, sample_rate=SR, block_size=4)
    c.starts[:3], c.frames[:3], c.count = (0, 4, 8), (4, 4, 2), 3
    audio = np.array([[0.5, 0, 0, 0, 0, 0.25, 0, 0, 1.0, -1.0]], np.float32)
    c.add_audio("out", audio)
    assert c.peak[:3, 0].tolist() == [0.5, 0.25, 1.0]
    np.testing.assert_allclose(c.rms[:3, 0], [0.25, 0.125, 1.0])


def test_record_levels_in_the_loop_matches_numpy() -> None:
    c = MetricsCollector(["out"], 2, sample_rate=SR, block_size=64, meters=["out"])
    rng = np.random.default_rng(0)
    buf = rng.standard_normal((2, 64)).astype(np.float32)
    c.record_levels(1, {"out": buf})
    c.record_levels(5, {"out": buf})  # past capacity: ignored
    assert c.peak[1, 0] == np.abs(buf).max()
    assert c.rms[1, 0] == pytest.approx(float(np.sqrt(np.mean(buf.astype(np.float64) ** 2))))


def test_loudness_of_captured_outputs() -> None:
    c = filled(blocks=round(10 * SR / 512) + 1)
    t = np.arange(c.count * 512) / SR
    tone = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    c.add_audio("main", np.stack([tone, tone]))
    out = c.summary()["outputs"]["main"]
    assert out["integrated_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert out["peak_dbfs"] == pytest.approx(-23.0, abs=0.01)
    assert out["rms_dbfs"] == pytest.approx(-26.01, abs=0.05)
    assert out["true_peak_dbtp"] == pytest.approx(-23.0, abs=0.05)


def test_health_of_sandboxed_processors() -> None:
    c = filled()
    c.record_health({"src": object(), "fx": Sandboxed()})
    s = c.summary()
    assert s["xruns"] == 3 and s["failed_nodes"] == ["fx"]
    assert s["nodes"]["fx"]["failure_reason"] == "worker crashed 3 times"
    assert s["nodes"]["src"]["xruns"] == 0 and s["nodes"]["src"]["failed"] is False


class Counter:
    def in_flight(self, start: int) -> int:
        return start // 512 % 4


def test_events_in_flight() -> None:
    c = filled()
    c.record_events(Counter(), event_count=9)
    assert c.summary()["events"] == {"count": 9, "in_flight_max": 3}
    assert c.timeseries()["in_flight"][:5].tolist() == [0, 1, 2, 3, 0]


def test_cpu_clock_gives_rtf_and_process_percent() -> None:
    c = filled()
    c.start()
    sum(i * i for i in range(200_000))
    c.stop({"fx": object()})
    s = c.summary()
    assert s["wall_seconds"] > 0 and s["rtf"] == pytest.approx(
        s["wall_seconds"] / s["audio_seconds"]
    )
    assert 0 < s["cpu"]["process_percent"] < 400


def test_json_and_csv_exports(tmp_path: Path) -> None:
    c = filled(blocks=10)
    c.add_audio("out", np.zeros((2, 5120), np.float32))  # silence: -inf dB
    data = json.loads(c.to_json(tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert data["outputs"]["out"]["peak_dbfs"] is None  # JSON has no -Infinity
    rows = c.to_csv(tmp_path / "series.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == (
        "block,start,time_s,frames,block_us,in_flight,src_us,fx_us,out_peak_db,out_rms_db"
    )
    assert len(rows) == 11
    assert rows[2].split(",")[:4] == ["1", "512", "0.010667", "512"]


def test_timeseries_short_term_lufs_grid() -> None:
    c = filled(blocks=round(5 * SR / 512))
    c.add_audio("out", np.zeros((1, c.count * 512), np.float32))
    lufs = c.timeseries()["short_term_lufs"]["out"]
    assert lufs["t"][0] == 3.0 and lufs["t"].size == lufs["lufs"].size
    assert all(math.isinf(v) for v in lufs["lufs"])
