"""Per-run metrics: where the time went, how loud each output was, what went wrong.

The engine writes timings straight into the collector's preallocated arrays (the same
layout as ``graph.BlockTimings``, which :meth:`MetricsCollector.from_timings` adopts
without copying): ``node_ns[block, node]``, ``block_ns[block]``, ``starts[block]``,
``frames[block]``. Levels come either per block in the loop (:meth:`record_levels`, a
numba kernel that allocates nothing) or after the run from captured audio
(:meth:`add_audio`). Loudness and true peak come from a streaming
:class:`~._meter.LoudnessMeter` per output — fed by the render loop
(:meth:`set_loudness`) or by :meth:`add_audio` in one call. Everything derived —
percentiles, CPU, xruns, loudness — is computed once, in :meth:`summary`, off the audio
path.

Example:
    >>> c = MetricsCollector(["src", "out"], 4, sample_rate=48000, block_size=512)
    >>> c.node_ns[0] = (1000, 2000); c.block_ns[0] = 3000; c.frames[0] = 512; c.count = 1
    >>> c.summary()["nodes"]["out"]["max_us"]
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .._features import health_of
from .._jit import lazy_njit
from ._cpu import CpuClock
from ._export import write_csv, write_json
from ._loudness import meter_for
from ._meter import LoudnessMeter

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


class Timings(Protocol):
    """The engine's per-block arrays (``graph.BlockTimings``)."""

    node_ns: I64
    block_ns: I64
    starts: I64
    frames: I64
    count: int


class InFlight(Protocol):
    """Anything that can say how many events sound at a sample (the scheduler)."""

    def in_flight(self, start: int) -> int:
        """Voices sounding at ``start``."""
        ...


@lazy_njit(cache=True)
def peak_sumsq(buf: npt.NDArray[np.floating]) -> tuple[float, float]:  # pragma: no cover
    peak, total = 0.0, 0.0
    for c in range(buf.shape[0]):
        for i in range(buf.shape[1]):
            v = float(buf[c, i])
            peak = max(peak, abs(v))
            total += v * v
    return peak, total


@lazy_njit(cache=True, nogil=True)
def block_levels(  # pragma: no cover - compiled
    x: npt.NDArray[np.floating], first: int, block: int, peak: F64, sumsq: F64
) -> None:
    """Raise ``peak[b]`` and add to ``sumsq[b]`` for each block ``b`` that ``x`` covers.

    ``x`` is ``(channels, frames)`` audio (any layout) starting at frame ``first`` of the
    run; block ``b`` covers frames ``[b·block, (b+1)·block)``. Blocks past the arrays'
    end are ignored.
    """
    frames = x.shape[1]
    n = 0
    while n < frames:
        b = (first + n) // block
        end = min(frames, (b + 1) * block - first)
        if b >= peak.shape[0]:
            break
        p, total = peak[b], sumsq[b]
        for c in range(x.shape[0]):
            for i in range(n, end):
                v = float(x[c, i])
                p = max(p, abs(v))
                total += v * v
        peak[b], sumsq[b] = p, total
        n = end


def _db(x: npt.NDArray[np.floating] | float) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return np.asarray(20.0 * np.log10(np.asarray(x, np.float64)), np.float64)


def _stats_us(ns: npt.NDArray[np.int64]) -> dict[str, float]:
    if ns.size == 0:
        return {"p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0, "mean_us": 0.0}
    us = ns / 1000.0
    return {
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "mean_us": float(us.mean()),
    }


class MetricsCollector:
    """Preallocated per-block arrays plus the derivations a report needs."""

    def __init__(
        self,
        node_ids: Sequence[str],
        n_blocks: int,
        *,
        sample_rate: int,
        block_size: int,
        meters: Sequence[str] = (),
        timings: Timings | None = None,
    ) -> None:
        """[main-thread & !active] Allocate for ``n_blocks`` blocks.

        Args:
            node_ids: nodes in the engine's processing order (columns of ``node_ns``).
            n_blocks: capacity; blocks past it are not recorded.
            sample_rate: Hz, for seconds and budgets.
            block_size: nominal frames per block (the real-time budget).
            meters: ids of nodes whose level is tracked per block.
            timings: adopt these arrays instead of allocating (no copy).
        """
        self.node_ids = list(node_ids)
        self.sample_rate, self.block_size = int(sample_rate), int(block_size)
        self._timings = timings
        if timings is None:
            self.node_ns = np.zeros((n_blocks, len(self.node_ids)), np.int64)
            self.block_ns = np.zeros(n_blocks, np.int64)
            self.starts = np.zeros(n_blocks, np.int64)
            self.frames = np.zeros(n_blocks, np.int64)
            self._count = 0
        else:
            self.node_ns, self.block_ns = timings.node_ns, timings.block_ns
            self.starts, self.frames = timings.starts, timings.frames
        capacity = len(self.block_ns)
        self.meter_ids = list(meters)
        self.peak = np.zeros((capacity, len(self.meter_ids)), np.float32)
        self.rms = np.zeros((capacity, len(self.meter_ids)), np.float32)
        self.in_flight = np.zeros(capacity, np.int32)
        self.loudness: dict[str, LoudnessMeter] = {}
        #: Per-block gain reduction (dB, >= 0) of dynamics nodes, by node id.
        self.gain_reduction: dict[str, npt.NDArray[np.float32]] = {}
        self.health: dict[str, dict[str, Any]] = {}
        self.clock = CpuClock()
        self.event_count = 0

    @classmethod
    def from_timings(
        cls,
        timings: Timings,
        node_ids: Sequence[str],
        *,
        sample_rate: int,
        block_size: int,
        meters: Sequence[str] = (),
    ) -> MetricsCollector:
        """A collector reading the engine's ``BlockTimings`` in place."""
        return cls(
            node_ids,
            len(timings.block_ns),
            sample_rate=sample_rate,
            block_size=block_size,
            meters=meters,
            timings=timings,
        )

    @property
    def count(self) -> int:
        """Blocks recorded so far."""
        return self._timings.count if self._timings is not None else self._count

    @count.setter
    def count(self, value: int) -> None:
        if self._timings is not None:
            self._timings.count = value
        else:
            self._count = value

    def record_levels(self, block: int, outputs: Mapping[str, F32]) -> None:
        """[audio-thread] Peak and RMS of each metered node's latest block (no allocation)."""
        if block >= len(self.peak):
            return
        for j, node_id in enumerate(self.meter_ids):
            buf = outputs.get(node_id)
            if buf is not None and buf.size:
                peak, total = peak_sumsq(buf)
                self.peak[block, j] = peak
                self.rms[block, j] = math.sqrt(total / buf.size)

    def add_audio(self, node_id: str, audio: F32) -> None:
        """[main-thread] Whole-run audio ``(channels, frames)`` of an output, from sample 0.

        Fills the per-block levels of ``node_id`` (adding it as a meter if new) and
        measures its loudness and true peak for :meth:`summary`.
        """
        j = self._column(node_id)
        if audio.shape[1]:
            self.loudness[node_id] = meter_for(audio, self.sample_rate)
        n = self.count
        if n == 0 or audio.shape[1] == 0:
            return
        starts = np.minimum(self.starts[:n] - self.starts[0], audio.shape[1] - 1)
        square = np.square(audio, dtype=np.float64).sum(axis=0)
        self.peak[:n, j] = np.maximum.reduceat(np.abs(audio).max(axis=0), starts)
        sums = np.add.reduceat(square, starts)
        frames = np.maximum(self.frames[:n], 1) * audio.shape[0]
        self.rms[:n, j] = np.sqrt(sums / frames)

    def _column(self, node_id: str) -> int:
        """Index of ``node_id``'s level column, adding one (a main-thread allocation) if new."""
        if node_id not in self.meter_ids:
            self.meter_ids.append(node_id)
            pad = np.zeros((len(self.peak), 1), np.float32)
            self.peak, self.rms = np.hstack([self.peak, pad]), np.hstack([self.rms, pad])
        return self.meter_ids.index(node_id)

    def set_levels(self, node_id: str, peak: F32, rms: F32) -> None:
        """[main-thread] Per-block linear peak and RMS of a node measured elsewhere."""
        j = self._column(node_id)
        n = min(len(peak), len(self.peak))
        self.peak[:n, j], self.rms[:n, j] = peak[:n], rms[:n]

    def set_loudness(self, node_id: str, meter: LoudnessMeter) -> None:
        """[main-thread] The loudness meter a render loop fed with ``node_id``'s audio."""
        self._column(node_id)
        self.loudness[node_id] = meter

    def set_gain_reduction(self, node_id: str, reduction_db: npt.NDArray[np.float32]) -> None:
        """[main-thread] Per-block gain reduction in dB of a dynamics node."""
        self.gain_reduction[node_id] = reduction_db

    def record_events(self, scheduler: InFlight, event_count: int = 0) -> None:
        """[main-thread] Events sounding at each recorded block's start."""
        self.event_count = event_count
        for b in range(self.count):
            self.in_flight[b] = scheduler.in_flight(int(self.starts[b]))

    def record_health(self, processors: Mapping[str, object]) -> None:
        """[main-thread] Read each processor's xruns/nan_blocks/restarts/failed/failure_reason.

        Remote nodes add ``remote``: their network figures (RTT percentiles, late and
        dropped blocks, reconnects, connected). Processors that report no health
        (:class:`~aers_host._features.ReportsHealth`) read as healthy.
        """
        self.health = {}
        for node_id, proc in processors.items():
            health = health_of(proc)
            info: dict[str, Any] = {
                "xruns": health.xruns,
                "nan_blocks": health.nan_blocks,
                "restarts": health.restarts,
                "failed": health.failed,
                "failure_reason": health.failure_reason or None,
            }
            if health.remote is not None:  # remote nodes: network round trips and faults
                info["remote"] = health.remote
            self.health[node_id] = info

    def start(self, processors: Mapping[str, object] | None = None) -> None:
        """[main-thread] Mark the start of the run for CPU accounting."""
        self.clock.start(processors)

    def stop(self, processors: Mapping[str, object] | None = None) -> None:
        """[main-thread] Mark the end (before workers close) and read processor health."""
        self.clock.stop(processors)
        if processors is not None:
            self.record_health(processors)

    def summary(self) -> dict[str, Any]:
        """Everything ``metrics.json`` holds (-inf dB means silence)."""
        n = self.count
        block_period_ns = self.block_size / self.sample_rate * 1e9
        frames = int(self.frames[:n].sum())
        audio_s = frames / self.sample_rate
        wall = self.clock.wall or float(self.block_ns[:n].sum()) / 1e9
        budget = np.maximum(self.frames[:n], 1) / self.sample_rate * 1e9
        nodes: dict[str, Any] = {}
        for i, node_id in enumerate(self.node_ids):
            stats = _stats_us(self.node_ns[:n, i])
            stats["cpu_percent"] = 100.0 * stats["mean_us"] * 1e3 / block_period_ns
            nodes[node_id] = {**stats, **self.health.get(node_id, {})}
        outputs: dict[str, Any] = {}
        for j, node_id in enumerate(self.meter_ids):
            peak = float(self.peak[:n, j].max()) if n else 0.0
            power = float(np.mean(np.square(self.rms[:n, j], dtype=np.float64))) if n else 0.0
            info: dict[str, Any] = {
                "peak_dbfs": float(_db(peak)),
                "rms_dbfs": float(_db(math.sqrt(power))),
            }
            meter = self.loudness.get(node_id)
            if meter is not None:
                stats_l = meter.stats()
                info.update(
                    integrated_lufs=stats_l.integrated_lufs,
                    short_term_max_lufs=stats_l.short_term_max_lufs,
                    momentary_max_lufs=stats_l.momentary_max_lufs,
                    true_peak_dbtp=stats_l.true_peak_dbtp,
                    loudness_range_lu=stats_l.loudness_range_lu,
                )
            outputs[node_id] = info
        for node_id, reduction in self.gain_reduction.items():
            if node_id in nodes:
                nodes[node_id]["gain_reduction_max_db"] = (
                    float(reduction[:n].max()) if n else 0.0
                )
        return {
            "sample_rate": self.sample_rate,
            "block_size": self.block_size,
            "blocks": n,
            "frames": frames,
            "audio_seconds": audio_s,
            "wall_seconds": wall,
            "rtf": wall / audio_s if audio_s else 0.0,
            "realtime_factor": audio_s / wall if wall else math.inf,
            "cpu": {
                "process_percent": self.clock.process_percent(),
                "workers_percent": self.clock.worker_percent(),
            },
            "block_propagation_us": {
                k.removesuffix("_us"): v for k, v in _stats_us(self.block_ns[:n]).items()
            },
            "block_period_us": block_period_ns / 1e3,
            "deadline_misses": int(np.count_nonzero(self.block_ns[:n] > budget)),
            "xruns": sum(int(h.get("xruns", 0)) for h in self.health.values()),
            "failed_nodes": sorted(k for k, h in self.health.items() if h.get("failed")),
            "events": {
                "count": self.event_count,
                "in_flight_max": int(self.in_flight[:n].max()) if n else 0,
            },
            "nodes": nodes,
            "outputs": outputs,
        }

    def timeseries(self) -> dict[str, Any]:
        """Per-block arrays, loudness every 100 ms per output, gain reduction, for plots/CSV."""
        n = self.count
        levels = {
            node_id: {"peak_db": _db(self.peak[:n, j]), "rms_db": _db(self.rms[:n, j])}
            for j, node_id in enumerate(self.meter_ids)
        }
        lufs, momentary = {}, {}
        for node_id, meter in self.loudness.items():
            t, values = meter.short_term()
            lufs[node_id] = {"t": t, "lufs": values}
            t, values = meter.momentary()
            momentary[node_id] = {"t": t, "lufs": values}
        return {
            "start": self.starts[:n].copy(),
            "frames": self.frames[:n].copy(),
            "t": self.starts[:n] / self.sample_rate,
            "block_us": self.block_ns[:n] / 1e3,
            "node_us": {
                node_id: self.node_ns[:n, i] / 1e3 for i, node_id in enumerate(self.node_ids)
            },
            "in_flight": self.in_flight[:n].copy(),
            "levels": levels,
            "short_term_lufs": lufs,
            "momentary_lufs": momentary,
            "gain_reduction_db": {k: v[:n].copy() for k, v in self.gain_reduction.items()},
            "sample_rate": self.sample_rate,
            "block_size": self.block_size,
        }

    def to_json(self, path: Path) -> Path:
        """Write :meth:`summary` to ``path`` (``metrics.json``)."""
        return write_json(self.summary(), path)

    def to_csv(self, path: Path) -> Path:
        """Write the per-block time series to ``path``."""
        return write_csv(self.timeseries(), path)


def warm_kernels() -> int:
    """[main-thread] Compile the level and loudness kernels for the block types; returns 1."""
    buf = np.zeros((2, 16), np.float32)
    peak_sumsq(buf)
    peak_sumsq(buf[:, :8])
    meter = LoudnessMeter(48000, 2, 16, 16)
    chunk = np.zeros((16, 2), np.float32)  # an output sink's drained chunk, interleaved
    for block in (buf, buf.astype(np.float64), chunk.T):
        meter.process(block, 16)
        block_levels(block, 0, 8, np.zeros(2), np.zeros(2))
    return 1
