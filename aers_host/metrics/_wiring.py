"""Build a :class:`MetricsCollector` from a finished render (no engine changes needed).

The engine already records ``BlockTimings``; a render with ``capture=True`` keeps every
output's audio. This module adopts both, adds events in flight from the scheduler and the
sandbox health counters from the processors, and takes wall/CPU time from a
:class:`CpuClock` the caller started and stopped around ``render()``.

Example:
    >>> clock = CpuClock(); clock.start()                               # doctest: +SKIP
    >>> result = render(cfg, registry, out_dir=out, capture=True)       # doctest: +SKIP
    >>> clock.stop()                                                    # doctest: +SKIP
    >>> collector = collector_from_render(result, scheduler=sched, clock=clock)  # doctest: +SKIP
    >>> export_run(collector, out, base=render_metrics(result), report="html")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._collector import InFlight, MetricsCollector, Timings, peak_sumsq
from ._cpu import CpuClock
from ._export import prometheus_text, write_csv, write_json
from ._report import Edge, write_report

if TYPE_CHECKING:
    from ..graph import Plan, RenderResult


#: Node types metered per block by default: buses, event sources and ``meter`` nodes
#: (placed in a graph precisely so their levels are reported).
BUS_TYPES = frozenset({"mix", "events", "duck", "meter"})


class BusMeter:
    """Per-block peak/RMS of chosen nodes' outputs, read by the render loop after each block.

    ``bind`` runs once the plan exists (it finds each node's preallocated output buffer and
    allocates the arrays); the returned callable runs after every ``process_block`` and
    allocates nothing — the numba kernel reads the buffers in place.
    """

    def __init__(self, node_ids: Sequence[str] | None = None) -> None:
        """Meter ``node_ids``, or (None) every node whose type is in :data:`BUS_TYPES`."""
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
            wanted = [n.id for n in plan.nodes if n.type_name in BUS_TYPES]
        self.node_ids = [n for n in wanted if plan.node(n).role != "sink"]
        self._buffers = [plan.node(n).out_buf for n in self.node_ids]
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


class RunObserver:
    """What a render loop tells the metrics: plan ready, each block done, loop finished.

    ``render(..., observer=RunObserver())`` calls :meth:`bind` once the plan and timing
    arrays exist, :meth:`after_block` after every ``process_block`` and :meth:`finish`
    after the last block, before the plan closes (so sandbox workers are still alive to
    be measured). It meters buses per block and times CPU for the process and workers.
    """

    def __init__(self, meters: Sequence[str] | None = None) -> None:
        """Meter ``meters`` (default: every bus, see :class:`BusMeter`)."""
        self.meter = BusMeter(meters)
        self.clock = CpuClock()
        self._processors: dict[str, Any] = {}
        self._record: Callable[[Any, int], None] | None = None

    def bind(self, plan: Plan, timings: Timings) -> None:
        """[main-thread & !active] Allocate the meters and take the first CPU snapshot."""
        self._record = self.meter.bind(plan, timings)
        self._processors = {n.id: n.proc for n in plan.nodes}
        self.clock.start(self._processors)

    def after_block(self, engine: Any, frames: int) -> None:
        """[audio-thread] Meter the block just processed (no allocation)."""
        if self._record is not None:
            self._record(engine, frames)

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
