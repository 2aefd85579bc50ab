"""Offline render: run a plan for a number of frames, stream outputs to files.

The driver owns all I/O: between blocks it drains output sinks whose chunk is full, so
the block loop itself never touches the disk. The render is exactly as long as asked;
the final block is shorter when the length is not a multiple of the block size.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._features import KnowsLength
from .._length import DURATION_HINT, SourceEnd, endless_reason
from .._nodetype import NodeType
from .._timing import OFFLINE, REALTIME, Timing, sleep_until
from ..config._model import GraphConfig
from ..errors import AudioDeviceError, GraphError
from ._branches import resolve_threads
from ._drain import ChunkDrain
from ._engine import BlockTimings, Engine, EventSource
from ._plan import NodeRuntime, Plan, build_plan
from ._sinks import OutputSink, OutputWriter, output_format
from ._substitution import substitution_report

Progress = Callable[[int, int], None]


class RenderObserver(Protocol):
    """Told about a render as it runs (the metrics collector meters buses through this)."""

    def bind(self, plan: Plan, timings: BlockTimings) -> None:
        """[main-thread] The plan and its timing arrays exist; nothing has run yet."""
        ...

    def after_block(self, engine: Engine, frames: int) -> None:
        """[audio-thread] A block was processed; must not allocate."""
        ...

    def finish(self) -> None:
        """[main-thread] The last block ran; the plan is still open."""
        ...


@dataclass(slots=True)
class Pacing:
    """Real-time pacing of a render (``aers run``): how far behind the wall clock it fell."""

    #: Blocks that finished after their real-time deadline.
    misses: int = 0
    #: Largest lateness seen, in seconds.
    worst_late_s: float = 0.0
    #: Time lost to misses so far; the schedule is shifted by it.
    slip_s: float = 0.0
    #: Output-buffer fill when each block was delivered: the time left before it was due,
    #: in seconds (smallest seen, and the sum over blocks for the mean).
    min_headroom_s: float = float("inf")
    headroom_sum_s: float = 0.0
    blocks: int = 0

    def buffer_fill(self, block_seconds: float) -> dict[str, float]:
        """Fill of a one-block output buffer at delivery, in percent (100 = a block ahead)."""
        if not self.blocks:
            return {"min_percent": 0.0, "mean_percent": 0.0}
        mean = self.headroom_sum_s / self.blocks
        return {
            "min_percent": max(0.0, self.min_headroom_s) / block_seconds * 100.0,
            "mean_percent": max(0.0, mean) / block_seconds * 100.0,
        }


@dataclass(slots=True)
class RenderResult:
    """What a render produced (``frames`` short of the request after a Ctrl-C)."""

    plan: Plan
    frames: int
    wall_seconds: float
    timings: BlockTimings
    files: dict[str, Path] = field(default_factory=dict)
    captured: dict[str, np.ndarray] = field(default_factory=dict)
    #: :meth:`Engine.state` after the last block (what a session saves to resume from).
    state: dict[str, Any] = field(default_factory=dict)
    #: Node id → the samples it did not produce itself (see :func:`substitution_report`).
    substituted: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Threads the blocks ran on (1 unless some level of the plan ran branches at once).
    threads: int = 1

    @property
    def substituted_samples(self) -> int:
        """Samples, over all nodes, that were a fallback instead of the node's output."""
        return sum(int(info["samples"]) for info in self.substituted.values())

    @property
    def realtime_factor(self) -> float:
        """Audio seconds rendered per wall second."""
        audio = self.frames / self.plan.sample_rate
        return audio / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def render_length(config: GraphConfig, plan: Plan, duration: float | None = None) -> int:
    """Frames to render: ``duration`` (CLI, then config) or the longest file source + latency.

    Without a duration every source must end: it says how many frames it plays through a
    ``length_frames`` that is not None (:class:`~aers_host._features.KnowsLength`: a
    non-looping ``file`` source does; a looping file, ``sine``, ``noise``, ``impulse``,
    ``events`` and plugin sources never end). The render then lasts the longest source's
    length plus the plan's total latency (at least one frame), so the last file sample
    reaches every output.

    Raises:
        GraphError: when nothing says how long to render (naming the endless sources).
    """
    seconds = duration if duration is not None else config.duration
    if seconds is not None:
        return max(1, round(seconds * config.sample_rate))
    sources = [n for n in plan.nodes if n.role == "source"]
    lengths = {
        n.id: n.proc.length_frames if isinstance(n.proc, KnowsLength) else None for n in sources
    }
    reason = endless_reason(
        [  # "loop: true" read from the params, as `aers validate` names it
            SourceEnd(
                n.id,
                n.type_name,
                lengths[n.id] is not None,
                config.nodes[n.id].params.get("loop") is True,
            )
            for n in sources
        ]
    )
    if reason is None:
        return max(1, max(int(v) for v in lengths.values() if v is not None) + plan.total_latency)
    raise GraphError(f"{config.file}: no `duration` and {reason}; {DURATION_HINT}")


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a render; the files hold what was rendered and ``result`` says how much.

    Also raised, with the :class:`~aers_host.errors.AudioDeviceError` as ``__cause__``,
    when the audio device of a real-time run went away (the JACK server was stopped).

    A :class:`KeyboardInterrupt`, so code that does not know it still stops; the CLI
    catches it to write ``metrics.json`` for the partial run before exiting 130.
    """

    def __init__(self, result: RenderResult) -> None:
        super().__init__()
        self.result = result


def render(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    *,
    out_dir: Path | None,
    duration: float | None = None,
    events: EventSource | None = None,
    event_targets: frozenset[str] = frozenset(),
    progress: Progress | None = None,
    capture: bool = False,
    start: int = 0,
    initial_state: Mapping[str, Any] | None = None,
    observer: RenderObserver | None = None,
    pacing: Pacing | None = None,
    timing: Timing | None = None,
    threads: int | str | None = None,
) -> RenderResult:
    """Render ``config`` to ``out_dir/<output-id>.wav`` (and/or into memory with ``capture``).

    Args:
        config: the validated config.
        registry: node types to build it with.
        out_dir: folder for the output files (None: write no files).
        duration: seconds to render (else the config's, else the longest file source).
        events: the event scheduler whose audio is mixed in.
        event_targets: nodes that receive event audio.
        progress: called with (frames done, frames total) after each block.
        capture: keep every output's audio in memory (``RenderResult.captured``).
        start: absolute sample index of the first rendered frame (a resumed session's
            position); a ``position`` in ``initial_state`` wins over it.
        initial_state: what :meth:`Engine.state` returned at the end of an earlier render,
            applied before the first block, so this render continues that one bit for bit.
        observer: told when the plan is ready, after every block and at the end.
        pacing: when given, run at the speed of the wall clock (a real-time simulation)
            and count the blocks that finished after their deadline.
        timing: offline (default; real time with ``pacing``): offline waits for every
            sandboxed and remote node's result, only a hang limit stops it; blocks that
            still played a fallback are listed by :func:`render_metrics` (``substituted``).
        threads: most threads for independent branches (docs/architecture.md, "Two
            cores"): 1 runs on the calling thread only, ``"auto"`` lets the plan decide;
            None takes the config's ``threads`` (default auto). The audio is the same
            whatever the setting.

    Raises:
        GraphError: the graph cannot be built, has no length, or the state does not fit it.
        AudioIOError: an output file cannot be written.
        SessionError: a processor refuses its saved state.
        RenderInterrupted: Ctrl-C, or the audio device went away (its ``__cause__``); the
            files hold the blocks finished before it.
    """
    if timing is None:
        timing = REALTIME if pacing is not None else OFFLINE
    plan = build_plan(config, registry, event_targets=event_targets, timing=timing)
    engine: Engine | None = None
    try:
        total = render_length(config, plan, duration)
        block = plan.block_size
        timings = BlockTimings.allocate(-(-total // block), len(plan.nodes))
        engine = Engine(
            plan,
            events=events,
            timings=timings,
            start=start,
            threads=resolve_threads(config.threads if threads is None else threads),
        )
        if initial_state is not None:
            engine.restore(initial_state)
        sinks = [(n, n.proc) for n in plan.sinks() if isinstance(n.proc, OutputSink)]
        writers: dict[str, OutputWriter] = {}
        files: dict[str, Path] = {}
        for node, sink in sinks:
            sink.capture = capture
            if out_dir is not None:
                path = out_dir / f"{node.id}.{output_format(sink.params)}"
                writers[node.id] = OutputWriter(
                    path, plan.sample_rate, node.channels_in, sink.params
                )
                files[node.id] = path
        if observer is not None:
            observer.bind(plan, timings)
        drain = ChunkDrain()
        t0 = time.perf_counter()
        done = 0
        stopped: KeyboardInterrupt | AudioDeviceError | None = None
        try:
            try:
                while done < total:
                    frames = min(block, total - done)
                    for node, sink in sinks:
                        if sink.needs_drain(frames):
                            _drain(sink, writers.get(node.id), drain)
                    engine.process_block(frames)
                    done += frames
                    if observer is not None:
                        observer.after_block(engine, frames)
                    if pacing is not None:
                        _pace(pacing, t0, done / plan.sample_rate, engine.prewake)
                    if progress is not None:
                        progress(done, total)
            except (KeyboardInterrupt, AudioDeviceError) as stop:
                stopped = stop  # finish with the blocks rendered so far, then say so
            _drain_all(sinks, writers, drain)
            drain.finish()  # every chunk in its file and meter before the clocks stop
            wall = time.perf_counter() - t0
            if observer is not None:
                observer.finish()
        finally:  # after Ctrl-C or an error too: what was rendered reaches the files
            try:
                _drain_all(sinks, writers, drain)  # nothing left after a normal end
            finally:
                drain.finish()
                for writer in writers.values():
                    writer.close()
        captured = (
            {
                node.id: np.concatenate(sink.captured, axis=0).T.copy()
                if sink.captured
                else np.zeros((node.channels_in, 0), np.float32)
                for node, sink in sinks
            }
            if capture
            else {}
        )
        result = RenderResult(
            plan,
            done,
            wall,
            timings,
            files,
            captured,
            engine.state(),
            substitution_report(plan),
            engine.threads,
        )
        if isinstance(stopped, AudioDeviceError):
            raise RenderInterrupted(result) from stopped  # the device went away mid-run
        if stopped is not None:
            raise RenderInterrupted(result)
        return result
    finally:
        if engine is not None:
            engine.close()
        plan.close()


def _pace(
    pacing: Pacing, t0: float, audio_seconds: float, prewake: Callable[[], None]
) -> None:
    """Sleep until the audio rendered so far is due; count it late when it already is.

    After a miss the schedule restarts from now, as an audio device does after an
    underrun, so one stall counts once instead of once per block spent catching up.
    """
    late = time.perf_counter() - (t0 + pacing.slip_s) - audio_seconds
    pacing.blocks += 1
    pacing.headroom_sum_s += max(0.0, -late)
    pacing.min_headroom_s = min(pacing.min_headroom_s, max(0.0, -late))
    if late > 0:
        pacing.misses += 1
        pacing.worst_late_s = max(pacing.worst_late_s, late)
        pacing.slip_s += late
    else:
        sleep_until(t0 + pacing.slip_s + audio_seconds, prewake)


def _drain(sink: OutputSink, writer: OutputWriter | None, drain: ChunkDrain) -> None:
    """[main-thread, between blocks] Hand the sink's pending frames to its taps and file."""
    if sink.fill == 0:
        return
    frames = sink.take()
    drain.submit(functools.partial(_deliver, sink, frames, writer))


def _drain_all(
    sinks: list[tuple[NodeRuntime, OutputSink]], writers: Mapping[str, OutputWriter],
    drain: ChunkDrain,
) -> None:
    """[main-thread] Hand every sink's pending frames on (the render's end, or its abort)."""
    for node, sink in sinks:
        _drain(sink, writers.get(node.id), drain)


def _deliver(sink: OutputSink, frames: np.ndarray, writer: OutputWriter | None) -> None:
    """[drain-thread] One chunk to the sink's taps (the meters), then to its file."""
    for tap in sink.taps:
        tap(frames)
    if writer is not None:
        writer.write(frames)


def render_metrics(result: RenderResult) -> dict[str, Any]:
    """The ``metrics.json`` summary: per-node p50/p99/max process time, RTF, latency.

    Also the timing mode, and per node the samples it did not produce itself
    (``substituted``: count, first sample, ranges; ``nonfinite_blocks``), summed in
    ``substituted_samples`` with the nodes named in ``substituted_nodes``.
    """
    plan, timings = result.plan, result.timings
    substituted = result.substituted
    count = max(timings.count, 1)
    node_us = timings.node_ns[:count] / 1000.0
    block_us = timings.block_ns[:count] / 1000.0
    nodes = {
        node.id: {
            "type": node.type_name,
            "p50_us": float(np.percentile(node_us[:, i], 50)),
            "p99_us": float(np.percentile(node_us[:, i], 99)),
            "max_us": float(node_us[:, i].max()),
            "latency_samples": node.latency,
            "nonfinite_blocks": node.nonfinite_blocks,
            **({"substituted": substituted[node.id]} if node.id in substituted else {}),
        }
        for i, node in enumerate(plan.nodes)
    }
    return {
        "sample_rate": plan.sample_rate,
        "block_size": plan.block_size,
        "frames": result.frames,
        "blocks": timings.count,
        "wall_seconds": result.wall_seconds,
        "realtime_factor": result.realtime_factor,
        "total_latency_samples": plan.total_latency,
        "timing_mode": plan.timing.mode,
        "threads": result.threads,
        "substituted_samples": result.substituted_samples,
        "substituted_nodes": sorted(substituted),
        "block_propagation_us": {
            "p50": float(np.percentile(block_us, 50)),
            "p99": float(np.percentile(block_us, 99)),
            "max": float(block_us.max()),
        },
        "nodes": nodes,
    }
