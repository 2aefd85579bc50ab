"""Live metrics for ``/api/metrics`` and ``/metrics``, via :mod:`aers_host.metrics`.

The runtime's block-timing ring has the layout of ``graph.BlockTimings``, so a copy of
its valid rows is adopted by :class:`~aers_host.metrics.MetricsCollector` and summarised
by the same code as an offline render; the Prometheus text comes from the same exporter.
What only a live run knows is added on top: ``deadline_misses`` counts blocks of the paced
loop that finished after their wall-clock deadline (the feed's ``xruns``), ``blocks`` all
blocks processed (counters never go down, unlike the ring), the current pass, output levels from
the latest snapshot and the process CPU over the latest frame window.

Example:
    >>> text = prometheus(runtime)          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..graph import BlockTimings
from ._messages import DB_FLOOR

if TYPE_CHECKING:
    from ._runtime import LiveRuntime


def _db(value: float) -> float:
    return float(20.0 * np.log10(value)) if value > 10.0 ** (DB_FLOOR / 20.0) else DB_FLOOR


def live_summary(runtime: LiveRuntime) -> dict[str, Any]:
    """The render-style metrics summary over the recorded blocks, plus live counters."""
    from ..metrics import MetricsCollector  # scipy-heavy: load on first scrape

    view = runtime.view  # one plan throughout, whatever live edits do meanwhile
    block_ns, node_ns = view.recorded_timings()
    count = len(block_ns)
    plan = view.plan
    frames = np.full(count, plan.block_size, np.int64)
    timings = BlockTimings(node_ns, block_ns, np.zeros(count, np.int64), frames, count)
    collector = MetricsCollector.from_timings(
        timings,
        [n.id for n in plan.nodes],
        sample_rate=plan.sample_rate,
        block_size=plan.block_size,
    )
    collector.record_health({n.id: n.proc for n in plan.nodes})
    snap = runtime.snapshot
    # The engine is paced to real time, so the wall clock says nothing about it: leave the
    # collector's default, the busy time of the recorded blocks, which makes rtf the
    # engine's load and realtime_factor its headroom.
    summary = collector.summary()
    if snap is not None:  # CPU over the latest frame window (the live figure)
        summary["cpu"]["process_percent"] = snap.process_cpu
    # Counters must never go down, so they come from the runtime, not the ring.
    summary["blocks"] = runtime.blocks
    summary["deadline_misses"] = runtime.xruns
    summary["live"] = {
        "blocks_total": runtime.blocks,
        "loop": runtime.loop,
        "loop_frames": runtime.loop_frames,
        "position": view.engine.position,
        "overruns": runtime.overruns,
        "block_cpu_us_max": runtime.block_cpu_ns_max / 1e3,
        "edits": len(runtime.live.journal),
        "edit_blocks": runtime.edit_blocks,
        "edit_deadline_misses": runtime.edit_xruns,
        "edit_overruns": runtime.edit_overruns,
        "edit_block_us_max": runtime.edit_block_ns_max / 1e3,
        "edit_block_cpu_us_max": runtime.edit_block_cpu_ns_max / 1e3,
        "events_in_flight": snap.in_flight if snap is not None else 0,
    }
    if runtime.device is not None and runtime.blame is not None:  # aers serve --jack
        summary["jack"] = {
            **runtime.device.metrics(),
            **runtime.blame.metrics(),
            "engine_realtime": runtime.engine_realtime,
        }
    summary["outputs"] = {}
    if snap is not None:
        sinks = {n.id for n in plan.nodes if n.role == "sink"}
        for i, node_id in enumerate(snap.ids):
            if node_id in sinks and snap.peak[i].size:
                summary["outputs"][node_id] = {
                    "peak_dbfs": _db(float(snap.peak[i].max())),
                    "rms_dbfs": _db(float(np.sqrt(np.mean(np.square(snap.rms[i]))))),
                }
    summary["events"] = {
        "count": len(getattr(runtime.events, "events", ())),
        "in_flight_max": summary["live"]["events_in_flight"],
    }
    return summary


def prometheus(runtime: LiveRuntime) -> str:
    """:func:`live_summary` in Prometheus text format 0.0.4."""
    from ..metrics import prometheus_text

    return prometheus_text(live_summary(runtime))
