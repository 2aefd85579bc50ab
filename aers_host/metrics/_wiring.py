"""Build a :class:`MetricsCollector` from a finished render (no engine changes needed).

The engine already records ``BlockTimings``. A :class:`RunObserver` given to ``render()``
meters buses per block, each output's per-block levels, loudness and true peak from the
chunks its sink drains (a streaming :class:`~._meter.LoudnessMeter`), and the gain
reduction of dynamics nodes, into arrays allocated before the first block; without one,
a render with ``capture=True`` keeps every output's audio to be measured afterwards.
This module adopts either, adds events in flight from the scheduler and the sandbox
health counters from the processors, and takes wall/CPU time from a :class:`CpuClock`
the caller started and stopped around ``render()``.

Example:
    >>> clock = CpuClock(); clock.start()                               # doctest: +SKIP
    >>> result = render(cfg, registry, out_dir=out, capture=True)       # doctest: +SKIP
    >>> clock.stop()                                                    # doctest: +SKIP
    >>> collector = collector_from_render(result, scheduler=sched, clock=clock)  # doctest: +SKIP
    >>> export_run(collector, out, base=render_metrics(result), report="html")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from ..graph import OutputSink
from ._collector import F32, InFlight, MetricsCollector, Timings, block_levels, peak_sumsq
from ._cpu import CpuClock
from ._export import prometheus_text, write_csv, write_json
from ._meter import LoudnessMeter
from ._report import Edge, write_report

if TYPE_CHECKING:
    from ..graph import NodeRuntime, Plan, RenderResult


class BusMeter:
    """Per-block peak/RMS of chosen nodes' outputs, read by the render loop after each block.

    ``bind`` runs once the plan exists (it finds each node's preallocated output buffer —
    for an output node, the buffer it reads — and allocates the arrays); the returned
    callable runs after every ``process_block`` and allocates nothing — the numba kernel
    reads the buffers in place.
    """

    def __init__(self, node_ids: Sequence[str] | None = None) -> None:
        """Meter ``node_ids``, or (None) every non-sink node whose type is metered.

        Metered types (``NodeTraits.metered``) are buses, event sources and ``meter``
        nodes, placed in a graph precisely so their levels are reported.
        """
        self.requested = None if node_ids is None else list(node_ids)
        self.node_ids: list[str] = []
        self.peak = np.zeros((0, 0), np.float32)
        self.rms = np.zeros((0, 0), np.float32)
        self._buffers: list[Any] = []
        self._timings: Any = None

    def bind(self, plan: Plan, timings: Timings) -> Callable[[Any, int], None]:
        """[main-thread & !active] Allocate for the plan; return the per-block recorder."""
        wanted = self.requested
        if wanted is None:
            wanted = [n.id for n in plan.nodes if n.traits.metered and n.role != "sink"]
        self.node_ids = list(wanted)
        self._buffers = [_metered_buffer(plan, plan.node(n)) for n in self.node_ids]
        self._timings = timings
        shape = (len(timings.block_ns), len(self.node_ids))
        self.peak, self.rms = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        return self.record

    def record(self, _engine: Any, frames: int) -> None:
        """[audio-thread] Measure the block just processed (``timings.count - 1``)."""
        block = self._timings.count - 1
        if not 0 <= block < len(self.peak):
            return
        for j, buf in enumerate(self._buffers):
            peak, total = peak_sumsq(buf[:, :frames])
            self.peak[block, j] = peak
            self.rms[block, j] = math.sqrt(total / max(1, buf.shape[0] * frames))


def _metered_buffer(plan: Plan, node: NodeRuntime) -> Any:
    """What a meter on ``node`` reads: its output, or for a sink (no output) its input."""
    return plan.input_of(node) if node.role == "sink" else node.out_buf


class OutputMeter:
    """Every output node's per-block peak/RMS, streaming loudness and true peak.

    Measured where the render driver drains each output sink's chunk (a tap on
    ``OutputSink.taps``, on the render's drain thread, in order): one compiled pass over
    about 1.4 s of audio at a time instead of a Python call per block, and nothing added
    to the block loop. The
    chunks hold whole blocks, so per-block levels come out exactly as a per-block meter
    would read them. Sinks other than ``output`` (plugin sinks) are not measured.
    """

    def __init__(self) -> None:
        self.node_ids: list[str] = []
        self.meters: dict[str, LoudnessMeter] = {}
        self._peak = np.zeros((0, 0), np.float64)
        self._sumsq = np.zeros((0, 0), np.float64)
        self._done: list[int] = []
        self._channels: list[int] = []
        self._block = 1

    def bind(self, plan: Plan, timings: Timings) -> None:
        """[main-thread & !active] One meter per output, sized for the whole render."""
        capacity_blocks = len(timings.block_ns)
        self._block = plan.block_size
        sinks = [n for n in plan.sinks() if isinstance(n.proc, OutputSink)]
        self.node_ids = [n.id for n in sinks]
        self._channels = [n.channels_in for n in sinks]
        self._done = [0] * len(sinks)
        self._peak = np.zeros((len(sinks), capacity_blocks), np.float64)
        self._sumsq = np.zeros((len(sinks), capacity_blocks), np.float64)
        self.meters = {}
        for j, node in enumerate(sinks):
            sink = cast(OutputSink, node.proc)
            self.meters[node.id] = LoudnessMeter(
                plan.sample_rate, node.channels_in, sink.chunk.shape[0],
                capacity_blocks * self._block,
            )  # fmt: skip
            sink.taps.append(functools.partial(self._measure, j))

    def _measure(self, j: int, chunk: npt.NDArray[np.float32]) -> None:
        """[drain-thread] Measure output ``j``'s drained ``(frames, ch)`` chunk (in order)."""
        audio, frames = chunk.T, chunk.shape[0]
        self.meters[self.node_ids[j]].process(audio, frames)
        block_levels(audio, self._done[j], self._block, self._peak[j], self._sumsq[j])
        self._done[j] += frames

    def levels(self, j: int, frames: npt.NDArray[np.int64]) -> tuple[F32, F32]:
        """[main-thread] Per-block linear peak and RMS of output ``j`` (``frames`` per block)."""
        count = np.maximum(frames[: self._peak.shape[1]], 1) * max(1, self._channels[j])
        rms = np.sqrt(self._sumsq[j, : count.size] / count)
        return self._peak[j].astype(np.float32), rms.astype(np.float32)


class GainReductionMeter:
    """Per-block gain reduction of every node whose processor exposes ``min_gain``.

    Dynamics processors (``compressor``, ``limiter``, ``duck``) lower a one-element
    ``min_gain`` array to the smallest gain they applied; after each block this meter
    copies it into a preallocated row and sets it back to 1.0. Converting to dB happens
    once, after the run.
    """

    def __init__(self) -> None:
        self.node_ids: list[str] = []
        self.lowest = np.ones((0, 0), np.float32)
        self._sources: list[Any] = []
        self._timings: Any = None

    def bind(self, plan: Plan, timings: Timings) -> None:
        """[main-thread & !active] Find the dynamics nodes and allocate a row per block."""
        found = [
            (n.id, cell)
            for n in plan.nodes
            if isinstance(cell := getattr(n.proc, "min_gain", None), np.ndarray)
        ]
        self.node_ids = [node_id for node_id, _ in found]
        self._sources = [source for _, source in found]
        for source in self._sources:
            source[0] = 1.0
        self.lowest = np.ones((len(timings.block_ns), len(found)), np.float32)
        self._timings = timings

    def record(self) -> None:
        """[audio-thread] Take each node's lowest gain of the block just processed."""
        block = self._timings.count - 1
        if not 0 <= block < len(self.lowest):
            return
        for j, source in enumerate(self._sources):
            self.lowest[block, j] = source[0]
            source[0] = 1.0

    def reduction_db(self, j: int) -> npt.NDArray[np.float32]:
        """[main-thread] Gain reduction of node ``j`` per block in dB (0 = none, > 0 = less)."""
        with np.errstate(divide="ignore"):
            return np.asarray(np.maximum(-20.0 * np.log10(self.lowest[:, j]), 0.0), np.float32)


class RunObserver:
    """What a render loop tells the metrics: plan ready, each block done, loop finished.

    ``render(..., observer=RunObserver())`` calls :meth:`bind` once the plan and timing
    arrays exist, :meth:`after_block` after every ``process_block`` and :meth:`finish`
    after the last block, before the plan closes (so sandbox workers are still alive to
    be measured). It meters buses per block, measures each output's levels, loudness and
    true peak as the driver drains its chunks (:class:`OutputMeter`), records dynamics
    nodes' gain reduction per block and times CPU for the process and workers — so the
    render needs to keep no audio in memory for its metrics.
    """

    def __init__(self, meters: Sequence[str] | None = None) -> None:
        """Meter ``meters`` (default: every bus, see :class:`BusMeter`) and every output."""
        self.meter = BusMeter(meters)
        self.outputs = OutputMeter()
        self.dynamics = GainReductionMeter()
        self.clock = CpuClock()
        self._processors: dict[str, Any] = {}
        self._record: Callable[[Any, int], None] | None = None

    def bind(self, plan: Plan, timings: Timings) -> None:
        """[main-thread & !active] Allocate the meters and take the first CPU snapshot."""
        self._record = self.meter.bind(plan, timings)
        self.outputs.bind(plan, timings)
        self.dynamics.bind(plan, timings)
        self._processors = {n.id: n.proc for n in plan.nodes}
        self.clock.start(self._processors)

    def after_block(self, engine: Any, frames: int) -> None:
        """[audio-thread] Meter the block just processed (no allocation)."""
        if self._record is not None:
            self._record(engine, frames)
            self.dynamics.record()

    def finish(self) -> None:
        """[main-thread] Take the last CPU snapshot, workers included."""
        self.clock.stop(self._processors)


def collector_from_render(
    result: RenderResult,
    *,
    scheduler: InFlight | None = None,
    clock: CpuClock | None = None,
    meter: BusMeter | None = None,
    observer: RunObserver | None = None,
) -> MetricsCollector:
    """Metrics of a render: timings, output levels/loudness, events, health, CPU.

    Args:
        result: what ``graph.render`` returned (``capture=True`` for levels and LUFS).
        scheduler: the event scheduler that played, for events in flight.
        clock: started before and stopped after ``render()``; default: the render's wall
            time with no CPU figures.
        meter: the :class:`BusMeter` the render loop fed, for per-bus levels.
        observer: the :class:`RunObserver` the render loop fed (its meter and clock win
            over ``meter`` and ``clock``).
    """
    if observer is not None:
        meter, clock = observer.meter, observer.clock
    plan = result.plan
    collector = MetricsCollector.from_timings(
        result.timings,
        [n.id for n in plan.nodes],
        sample_rate=plan.sample_rate,
        block_size=plan.block_size,
    )
    if meter is not None:
        for j, node_id in enumerate(meter.node_ids):
            collector.set_levels(node_id, meter.peak[:, j], meter.rms[:, j])
    if observer is not None:
        outputs = observer.outputs
        for j, node_id in enumerate(outputs.node_ids):
            collector.set_levels(node_id, *outputs.levels(j, result.timings.frames))
            collector.set_loudness(node_id, outputs.meters[node_id])
        for j, node_id in enumerate(observer.dynamics.node_ids):
            collector.set_gain_reduction(node_id, observer.dynamics.reduction_db(j))
    else:
        for node_id, audio in result.captured.items():
            collector.add_audio(node_id, np.ascontiguousarray(audio, np.float32))
    if scheduler is not None:
        count = len(getattr(scheduler, "events", ()))
        collector.record_events(scheduler, count)
    processors: dict[str, Any] = {n.id: n.proc for n in plan.nodes}
    collector.record_health(processors)
    if clock is not None:
        collector.clock = clock
    else:
        collector.clock.wall = result.wall_seconds
    return collector


def _as_dict(value: Any) -> dict[str, Any]:
    """A per-node/per-output entry as a dict (a bare value, such as a file path, as ``path``)."""
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else {"path": value}


def merge_summaries(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, merging per-node and per-output dicts key by key.

    So the engine's own per-node facts (type, latency, remote stats) survive next to the
    collector's timings and health.
    """
    merged = {**base, **extra}
    for key in ("nodes", "outputs"):
        if isinstance(base.get(key), Mapping) and isinstance(extra.get(key), Mapping):
            names = [*base[key], *(n for n in extra[key] if n not in base[key])]
            merged[key] = {
                n: {**_as_dict(base[key].get(n)), **_as_dict(extra[key].get(n))} for n in names
            }
    return merged


def export_run(
    collector: MetricsCollector,
    out_dir: Path,
    *,
    base: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    events: Sequence[Any] = (),
    edges: Sequence[Edge] = (),
    report: Literal["html", "markdown"] | None = None,
    csv: Path | None = None,
    prometheus: Path | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json`` (and the CSV, Prometheus text and report when asked).

    Args:
        collector: the run's metrics.
        out_dir: folder for ``metrics.json`` and the report.
        base: metrics the caller already has (``graph.render_metrics``), merged underneath.
        overrides: top-level values that replace the collector's (a paced run's own
            ``deadline_misses``: blocks late against the wall clock, not against the budget).
        events: scene events or log records, for report markers.
        edges: ``(from, to[, port])`` connections, for the report's graph drawing.
        report: ``html`` or ``markdown`` to write a report; None for none.
        csv: path of the per-block CSV time series, if wanted.
        prometheus: path of a Prometheus text file, if wanted.

    Returns:
        The merged summary, with ``files`` naming everything written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {**merge_summaries(base or {}, collector.summary()), **(overrides or {})}
    files: dict[str, str] = {}
    series = collector.timeseries() if csv is not None or report is not None else {}
    if csv is not None:
        files["csv"] = str(write_csv(series, csv))
    if prometheus is not None:
        prometheus.write_text(prometheus_text(summary), encoding="utf-8")
        files["prometheus"] = str(prometheus)
    if report is not None:
        path = write_report(out_dir, summary, series, events, edges, fmt=report)
        files["report"] = str(path)
    summary["files"] = {**dict(summary.get("files") or {}), **files}
    write_json(summary, out_dir / "metrics.json")
    return summary
