"""One render as the CLI runs it: events scheduled, metrics collected, reports written.

The graph package renders; the events package schedules; the metrics package measures.
This module is the only place that joins them, so ``aers render``, ``aers run`` and
``aers events record`` cannot drift apart.

Example:
    >>> outcome = render_run(cfg, registry, out_dir=Path("out"), report=True)  # doctest: +SKIP
    >>> outcome.metrics["realtime_factor"]                                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._nodetype import NodeType
from ._timing import Timing
from .config import GraphConfig
from .events import EventScheduler, log_entries_for_plan, scheduler_for_config, write_event_log
from .graph import (
    BlockTimings,
    Engine,
    Pacing,
    Plan,
    RenderObserver,
    RenderResult,
    render,
    render_metrics,
)
from .graph._render import Progress, RenderInterrupted
from .metrics import RunObserver, collector_from_render, export_run


@dataclass(slots=True)
class RunOutcome:
    """What a render produced: the result, the merged metrics and the scheduler that played."""

    result: RenderResult
    metrics: dict[str, Any]
    scheduler: EventScheduler | None


def render_run(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    *,
    out_dir: Path,
    duration: float | None = None,
    start: int = 0,
    initial_state: Mapping[str, Any] | None = None,
    replay: Path | None = None,
    report: bool = False,
    csv: Path | None = None,
    prometheus: Path | None = None,
    event_log: Path | None = None,
    progress: Progress | None = None,
    pacing: Pacing | None = None,
    watcher: RenderObserver | Sequence[RenderObserver] | None = None,
    extra_metrics: Callable[[], Mapping[str, Any]] | None = None,
    timing: Timing | None = None,
) -> RunOutcome:
    """Render with the config's scene (or a replayed log) and write ``metrics.json``.

    Args:
        config: the validated config.
        registry: node types.
        out_dir: where ``<output>.wav``, ``metrics.json`` and the report go.
        duration: seconds to render (else the config's).
        start: first sample (a resumed session).
        initial_state: engine state to continue from (a resumed session).
        replay: an event log whose events replace the scene (bit-exact replay).
        report: also write ``report.html``.
        csv: per-block time series CSV path.
        prometheus: Prometheus text file path.
        event_log: write the run's event log (JSONL) here.
        progress: called with (frames done, total).
        pacing: run at wall-clock speed and count deadline misses (real time).
        watcher: more observers of the render, told in order (``aers run``'s live table,
            the JACK device of ``aers run --jack``).
        extra_metrics: called once the render stopped (also after a Ctrl-C) for more
            top-level sections of ``metrics.json`` (the JACK device's ``jack`` section).
        timing: offline (default without ``pacing``) or real time, with the run's hang
            limit; ``metrics["substituted_samples"]`` says whether any fallback played.

    Raises:
        ConfigError: the scene or replay log is invalid.
        GraphError: the graph cannot be built or rendered.
        AudioIOError: an output cannot be written.
    """
    scheduler = scheduler_for_config(config, registry, replay=replay)
    observer = RunObserver()
    observers: list[RenderObserver] = [observer]
    if isinstance(watcher, Sequence):
        observers.extend(watcher)
    elif watcher is not None:
        observers.append(watcher)
    interrupted: RenderInterrupted | None = None
    try:
        result = render(
            config,
            registry,
            out_dir=out_dir,
            duration=duration,
            events=scheduler,
            event_targets=scheduler.targets() if scheduler is not None else frozenset(),
            progress=progress,
            start=start,
            initial_state=initial_state,
            observer=_Fanout(observers),
            pacing=pacing,
            timing=timing,
        )
    except RenderInterrupted as stop:  # Ctrl-C: measure and report the part that ran
        result, interrupted = stop.result, stop
    base = render_metrics(result)
    base["interrupted"] = interrupted is not None
    base["files"] = {"outputs": {node_id: str(path) for node_id, path in result.files.items()}}
    paced: dict[str, Any] = {}
    if pacing is not None:  # what the terminal reported: lateness against the wall clock
        paced["deadline_misses"] = pacing.misses
        paced["worst_late_ms"] = pacing.worst_late_s * 1000.0
        paced["buffer_fill"] = pacing.buffer_fill(config.block_size / config.sample_rate)
    if extra_metrics is not None:
        paced.update(extra_metrics())
    collector = collector_from_render(result, scheduler=scheduler, observer=observer)
    metrics = export_run(
        collector,
        out_dir,
        base=base,
        overrides=paced,
        events=scheduler.events if scheduler is not None else (),
        edges=[(c.src, c.dst, c.port) for c in config.connections],
        report="html" if report else None,
        csv=csv,
        prometheus=prometheus,
    )
    if event_log is not None and scheduler is not None:
        entries = log_entries_for_plan(scheduler, result.plan)
        write_event_log(
            event_log, entries, sample_rate=config.sample_rate, block_size=config.block_size
        )
        metrics.setdefault("files", {})["event_log"] = str(event_log)
    if interrupted is not None:
        raise interrupted  # after metrics.json: the CLI then says "interrupted", exit 130
    return RunOutcome(result, metrics, scheduler)


@dataclass(frozen=True, slots=True)
class _Fanout:
    """Several observers of one render, told in order."""

    observers: list[RenderObserver]

    def bind(self, plan: Plan, timings: BlockTimings) -> None:
        for observer in self.observers:
            observer.bind(plan, timings)

    def after_block(self, engine: Engine, frames: int) -> None:
        for observer in self.observers:
            observer.after_block(engine, frames)

    def finish(self) -> None:
        for observer in self.observers:
            observer.finish()
