"""The block loop: the only code that runs once per block per node.

Invariants of :meth:`Engine.process_block` (``[audio-thread & processing]``):

* no allocation for full-size blocks (views are built once; the final partial block of a
  render builds its views once more), no I/O, no logging, no locks;
* every block carries ``start``, the absolute index of its first sample (an ``int``);
* the block's DSP runs with the CPU flushing denormals to zero (restored after the block);
* nodes run in the plan's topological order; each node's input is the gain-weighted sum of
  its inputs (aligned by the compensation delays), or the upstream buffer itself when it
  has a single unity input;
* a delay that closes a feedback loop is read at its place in the order and written after
  every node has run, which is exact because it is at least one block long;
* with ``threads`` > 1, independent lanes of a level run at once (lane 0 here, the rest on
  worker threads), each node still after every node it reads, so the output is
  bit-identical to one thread (docs/architecture.md, "Two cores"). A worker whose lanes
  are all compiled block calls runs them as one GIL-free :class:`~._program.LaneProgram`
  (full blocks; a render's shorter last block runs every lane here); otherwise the
  engine's :class:`~._pool.LanePool` runs them in Python;
* no NaN or Inf leaves a node: each block's output is screened where it is produced
  (one vectorised pass), and a non-finite block is replaced by the node's fallback (its
  input when ``fallback: bypass`` and that is finite, else silence), counted in
  ``NodeRuntime.nonfinite_blocks`` and recorded in ``NodeRuntime.substituted``. Values
  that overflow float32 become Inf, so they are caught at the node that overflowed.
"""

from __future__ import annotations

import bisect
import collections
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from .._automation import Lane
from .._denormals import FlushDenormals
from .._processor import Buffer, ParamEvent, ProcessorBase, compiled
from ..errors import GraphError, SessionError
from . import _program
from ._branches import available_cores, split_levels
from ._kernels import all_finite, mix_delayed, mix_ramped, mix_scaled, replace_nonfinite
from ._plan import InputEdge, NodeRuntime, Plan
from ._pool import LanePool
from ._program import (
    CompiledLanes,
    InlineLanes,
    LaneProgram,
    ProgramStep,
    lanes_key,
    programs_compiled,
)
from ._sinks import OutputSink

#: Changes of one lane in a block from which the processor renders them in one call
#: (``ProcessorBase.process_changes``) instead of splitting the block at each.
DENSE_CHANGES = 2

#: Stand-in line for crossfading inputs that need no compensation delay.
_NO_LINE = np.zeros((1, 0), np.float32)

_Views = list[tuple[Buffer, Buffer, Buffer | None]]
#: (node index, call, call is bound to the views (takes only ``start``), input view,
#: output view, node to gather for, special node, the NaN/Inf screen of the output: a
#: bound ``all_finite(out)``, None for a sink)
_Step = tuple[
    int, Any, bool, Buffer, Buffer, "NodeRuntime | None", "NodeRuntime | None",
    "Callable[[], bool] | None",
]  # fmt: skip
_RunLane = Callable[[list[_Step], int, int], int]
#: When an engine may run its workers' lanes as compiled programs (``Engine``).
LanePrograms = Literal["compile", "cached", "off"]
#: One level: the calling thread's steps, the pool's jobs, the programs' (program, level),
#: and the calling thread's own compiled lanes (with the level's slot in them), if any.
_Level = tuple[
    list[_Step], list["_LaneJob"], list[tuple[LaneProgram, int]], list[tuple[InlineLanes, int]]
]


class EventSource(Protocol):
    """What the engine needs from an event scheduler."""

    def mix_into(self, target: str, buf: Buffer, start: int) -> None:
        """Add the events' audio for ``target`` over ``[start, start + frames)`` into ``buf``."""
        ...


@dataclass(slots=True)
class BlockTimings:
    """Preallocated per-block timing arrays the metrics collector reads.

    Attributes:
        node_ns: (blocks, nodes) process time of each node, ns.
        block_ns: (blocks,) propagation time, first node in to last node out, ns.
        starts: (blocks,) start sample of each block.
        frames: (blocks,) frames of each block.
    """

    node_ns: npt.NDArray[np.int64]
    block_ns: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    frames: npt.NDArray[np.int64]
    count: int = 0

    @classmethod
    def allocate(cls, blocks: int, nodes: int) -> BlockTimings:
        """Arrays for ``blocks`` blocks of ``nodes`` nodes."""
        return cls(
            np.zeros((blocks, nodes), np.int64),
            np.zeros(blocks, np.int64),
            np.zeros(blocks, np.int64),
            np.zeros(blocks, np.int64),
        )


class Engine:
    """Runs a :class:`Plan` block by block.

    Example:
        >>> engine = Engine(plan)                      # doctest: +SKIP
        >>> engine.process_block(plan.block_size)      # doctest: +SKIP
    """

    def __init__(
        self,
        plan: Plan,
        *,
        events: EventSource | None = None,
        timings: BlockTimings | None = None,
        start: int = 0,
        threads: int | None = 1,
        pool: LanePool | None = None,
        lane_programs: LanePrograms = "compile",
    ) -> None:
        """[main-thread & !active] Build the per-block views and the thread schedule once.

        Args:
            plan: the prepared plan.
            events: the event scheduler whose audio is mixed in (its ``mix_into`` may be
                called for different targets from different threads at once).
            timings: per-block timing arrays to fill.
            start: absolute sample index of the first block.
            threads: most threads to run independent branches on (1: the calling thread
                only; None: auto, see :func:`~aers_host.graph._branches.split_levels`).
                Which levels gain from a second thread is decided here; a plan where
                none does runs on the calling thread and starts no worker.
            pool: workers to use instead of starting this engine's own (a live graph
                shares one pool among the engines of its edits); not closed by
                :meth:`close`.
            lane_programs: whether workers may run compiled lane programs (module
                docstring): ``compile`` (compiling here when needed), ``cached`` (only
                programs this process compiled already: an engine made while audio
                plays), ``off``. An engine with its own workers rebuilds its programs
                when a node's flags change; one given a ``pool`` falls back to it.
        """
        self.plan = plan
        self._flush = FlushDenormals()
        self.events = events
        self.timings = timings
        #: Absolute sample index of the next block's first frame.
        self.position = int(start)
        self._views: dict[int, _Views] = {}
        self._steps: dict[int, list[_Step]] = {}
        self._levels: dict[int, list[_Level]] = {}
        self._times: list[int] | npt.NDArray[np.int64] = [0] * len(plan.nodes)
        self._inbox: collections.deque[tuple[str, str, float, int | None]] = collections.deque()
        self._block = [0, 0]  # start and frames of the block the lanes run
        if pool is not None:
            threads = min(threads or available_cores(), pool.workers + 1)
        #: Which nodes run on which thread (one level of one lane: single-threaded).
        self.branch_schedule = split_levels(plan, threads)
        self._owned: LanePool | None = None
        self._pool = pool if self.branch_schedule.parallel else None
        #: Compiled workers (one per worker thread), when every worker lane compiles,
        #: and then the calling thread's lanes of the same levels, compiled too.
        self._programs: list[LaneProgram] = []
        self._inline: InlineLanes | None = None
        self._lane_programs: LanePrograms = lane_programs
        if self.branch_schedule.parallel:
            self._compile(plan.block_size)  # workers start here, before the first block
        if pool is not None:  # rebuilt on the audio thread: never compile, never spawn
            self._lane_programs = "off"

    def _make_views(self, frames: int) -> _Views:
        return [
            (
                n.in_buf[:, :frames],
                n.out_buf[:, :frames],
                n.sidechain_buf[:, :frames] if n.sidechain_buf is not None else None,
            )
            for n in self.plan.nodes
        ]

    def _compile(self, frames: int) -> list[_Step]:
        """Flatten the plan into per-node steps for blocks of ``frames``.

        A node on the fast path (no events, automation, feedback, bypass, mute or
        side-chain) is one call bound to its fixed views (see :func:`_fast_call`); the rest
        take :meth:`_run_node`. Rebuilt when a flag or automation makes a node special.
        """
        views = self._views.get(frames)
        if views is None:
            views = self._views[frames] = self._make_views(frames)
        steps: list[_Step] = []
        for i, node in enumerate(self.plan.nodes):
            inp, out, _ = views[i]
            special = (
                node.feedback
                or node.event_target
                or node.bypass
                or node.mute
                or node.sidechain_buf is not None
                or bool(node.automation)
                or bool(node.lanes)
            )
            if node.direct >= 0:
                inp = views[node.direct][1]
            gather = None if node.direct >= 0 else node
            call, bound = _fast_call(node.proc, inp, out)
            screen = _finite_check(out) if node.role != "sink" else None
            steps.append((i, call, bound, inp, out, gather, node if special else None, screen))
        self._steps[frames] = steps
        if self.branch_schedule.parallel:
            self._levels[frames] = [
                (
                    [steps[i] for i in level[0]],
                    [
                        _LaneJob(self._run_lane, [steps[i] for i in lane], self._block)
                        for lane in level[1:]
                    ],
                    [],
                    [],
                )
                for level in self.branch_schedule.levels
            ]
            if frames == self.plan.block_size:
                self._start_workers(steps)
        return steps

    def _start_workers(self, steps: list[_Step]) -> None:
        """[main-thread & !processing] Lane programs for the workers, else a thread pool.

        Lane ``k`` of every level that has one goes to worker ``k``; a worker gets a
        program when each of those nodes is a plain compiled block call
        (:func:`_program_step`). When every worker has one, lane 0 of those levels (the
        calling thread's) is compiled too, if it can be.
        """
        levels = self.branch_schedule.levels
        taken = [
            [n for n, level in enumerate(levels) if len(level) > k]
            for k in range(1, self.branch_schedule.threads)
        ]
        workers = [
            self._program_lanes([levels[n][k] for n in slots], steps)
            for k, slots in enumerate(taken, 1)
        ]
        shared = [n for n, level in enumerate(levels) if len(level) > 1]
        own = self._program_lanes([levels[n][0] for n in shared], steps)
        fused = [lanes for lanes in workers if lanes is not None]
        running = ([p.key for p in self._programs], self._inline.key if self._inline else None)
        wanted = ([lanes_key(lanes) for lanes in fused], None if own is None else lanes_key(own))
        if self._programs and running == wanted:
            self._attach(taken, shared)  # same calls on the same arrays: keep the threads
            return
        self._close_programs()  # bound to the previous steps
        if self._lane_programs != "off" and len(fused) == len(workers) and (
            self._lane_programs == "compile" or programs_compiled(fused, own)
        ):
            for k, lanes in enumerate(fused, 1):
                self._programs.append(LaneProgram(lanes, self._node_times(), f"aers-lane-{k}"))
            if own is not None:
                self._inline = InlineLanes(own, self._node_times())
            self._attach(taken, shared)
        if not self._programs and self._pool is None:
            self._pool = self._owned = LanePool(self.branch_schedule.threads - 1)

    def _attach(self, taken: list[list[int]], shared: list[int]) -> None:
        """Point the full-size block's levels at the programs (their level slots)."""
        table = self._levels[self.plan.block_size]
        for program, slots in zip(self._programs, taken, strict=True):
            for slot, n in enumerate(slots):
                table[n][2].append((program, slot))
        if self._inline is not None:
            for slot, n in enumerate(shared):
                table[n][3].append((self._inline, slot))

    def _program_lanes(
        self, lanes: list[tuple[int, ...]], steps: list[_Step]
    ) -> list[list[ProgramStep]] | None:
        """The lanes' steps as program steps, or None if any node needs the Python path.

        None too past :data:`MAX_PROGRAM_NODES` nodes (a program that big compiles slowly).
        """
        if sum(map(len, lanes)) > _program.MAX_PROGRAM_NODES:
            return None
        nodes = self.plan.nodes
        made = [[_program_step(nodes[i], steps[i]) for i in lane] for lane in lanes]
        if any(step is None for lane in made for step in lane):
            return None
        return [[step for step in lane if step is not None] for lane in made]

    def _node_times(self) -> npt.NDArray[np.int64]:
        """The per-node times as an array programs write into (a list is faster for Python)."""
        if not isinstance(self._times, np.ndarray):
            self._times = np.zeros(len(self.plan.nodes), np.int64)
        return self._times

    def _close_programs(self) -> None:
        for program in self._programs:
            program.close()
        self._programs.clear()
        self._inline = None

    def invalidate(self) -> None:
        """[main-thread, between blocks] Rebuild the steps after changing node flags."""
        self._steps.clear()
        self._levels.clear()

    @property
    def threads(self) -> int:
        """Threads a block runs on (1 when no level of the plan gains from more)."""
        parallel = self._pool is not None or bool(self._programs)
        return self.branch_schedule.threads if parallel else 1

    def prewake(self) -> None:
        """[audio-thread, between blocks] Wake sleeping lane-program workers: a block is due.

        A real-time loop calls it ``_timing.PREWAKE_S`` before the next block (through
        ``_timing.sleep_until``), so the workers spin, awake, when the block comes
        instead of paying a kernel wake-up (tens of microseconds on a virtual machine)
        inside it. Does nothing without programs.
        """
        for program in self._programs:
            program.nudge()

    @property
    def compiled_workers(self) -> int:
        """Worker threads running compiled lane programs (0: Python lanes, or one thread)."""
        return len(self._programs)

    def close(self) -> None:
        """[main-thread & !processing] Stop the workers this engine started (idempotent).

        The plan's processors are the plan's business (:meth:`Plan.close`); a pool handed
        in by the caller stays open.
        """
        self._close_programs()
        if self._owned is not None:
            self._owned.close()

    def outputs(self, frames: int | None = None) -> dict[str, Buffer]:
        """[main-thread] The latest block of every non-sink node's output (for meters, API)."""
        count = self.plan.block_size if frames is None else frames
        return {n.id: n.out_buf[:, :count] for n in self.plan.nodes if n.role != "sink"}

    def schedule(self, node_id: str, param: str, value: float, at: int | None = None) -> None:
        """[any-thread] Queue a parameter change at absolute sample ``at`` (next block if None).

        Thread-safe without a lock (``deque.append`` is atomic); drained at the next block.
        """
        self._inbox.append((node_id, param, float(value), at))

    def _drain_inbox(self) -> None:
        while self._inbox:
            node_id, param, value, at = self._inbox.popleft()
            node = self.plan.node(node_id)
            when = self.position if at is None else max(int(at), self.position)
            bisect.insort(node.automation, (when, ParamEvent(0, param, value)), key=lambda e: e[0])
        self.invalidate()  # nodes with automation leave the fast path

    def process_block(self, frames: int) -> int:
        """[audio-thread & processing] Process one block of ``frames``; return its start sample."""
        start = self.position
        if self._inbox:
            self._drain_inbox()
        steps = self._steps.get(frames) or self._compile(frames)
        views = self._views[frames]
        clock = perf_counter_ns
        flush = self._flush
        saved = flush.enter()  # denormals to zero for this block's DSP (see _denormals)
        try:
            t_first = clock()
            if not self.branch_schedule.parallel:
                t0 = self._run_lane(steps, start, frames)
            else:
                t0 = self._run_levels(start, frames)
            feedback = self.plan.feedback
            for i in feedback:
                node = self.plan.nodes[i]
                inp = views[i][0]
                _gather(node, inp, views, back=True)
                node.proc.feedback_write(inp)  # type: ignore[attr-defined]
        finally:
            flush.leave(saved)
        timings = self.timings
        if timings is not None and timings.count < len(timings.block_ns):
            row = timings.count
            # without feedback writes the last node's end is the block's end
            timings.block_ns[row] = (clock() if feedback else t0) - t_first
            timings.node_ns[row] = self._times
            timings.starts[row] = start
            timings.frames[row] = frames
            timings.count += 1
        self.position = start + frames
        return start

    def _run_lane(self, steps: list[_Step], start: int, frames: int) -> int:
        """[audio-thread & processing] Run ``steps`` in order; return the clock at the end.

        Each node's time (one clock read per node: its end is the next one's start) goes
        to the per-node timing row; lanes on other threads write other nodes' slots.
        """
        views = self._views[frames]
        times = self._times
        clock = perf_counter_ns
        t0 = clock()
        for i, call, bound, inp, out, gather, special, screen in steps:
            if special is not None:
                self._run_node(special, inp, views[i], start, frames)
            else:
                if gather is not None:
                    _gather(gather, inp, views, back=False)
                if bound:
                    call(start)
                else:
                    call(inp, out, start, ())
            if screen is not None and not screen():
                _replace_block(self.plan.nodes[i], inp, out, start)
            t1 = clock()
            times[i] = t1 - t0
            t0 = t1
        return t0

    def _run_levels(self, start: int, frames: int) -> int:
        """[audio-thread & processing] Run the schedule's levels; lanes 1… on the workers.

        Every worker of a level has finished before the next level starts, and before an
        error (from any lane) leaves this method. With lane programs, a block shorter
        than the programs' runs every lane here, in lane order.
        """
        pool = self._pool
        block = self._block
        block[0], block[1] = start, frames
        for mine, jobs, programs, inline in self._levels[frames]:
            if programs:
                for program, level in programs:
                    program.go(level, start)
                try:
                    if inline:
                        own, level = inline[0]
                        own.run(level, start)
                    else:
                        self._run_lane(mine, start, frames)
                finally:
                    for program, _ in programs:
                        program.wait()
                for finished, _ in (*programs, *inline):
                    self._collect(finished, start, frames)
            elif jobs and pool is not None:
                pool.start(jobs)
                try:
                    self._run_lane(mine, start, frames)
                finally:
                    pool.wait(len(jobs))
            else:
                self._run_lane(mine, start, frames)
                for job in jobs:
                    job()
        return perf_counter_ns()

    def _collect(self, program: CompiledLanes, start: int, frames: int) -> None:
        """[audio-thread & processing] Count the blocks a program replaced (NaN/Inf)."""
        for i in program.replaced():
            _count_replaced(self.plan.nodes[i], start, frames)

    def _run_node(
        self,
        node: NodeRuntime,
        inp: Buffer,
        views: tuple[Buffer, Buffer, Buffer | None],
        start: int,
        frames: int,
    ) -> None:
        """[audio-thread & processing] The general path: events, automation, flags, feedback."""
        out, side = views[1], views[2]
        if node.direct < 0:
            _gather(node, inp, self._views[frames], back=False)
        if side is not None:
            _gather_sidechain(node, side, self._views[frames])
        events = self.events
        if node.event_target and events is not None and node.role != "source":
            events.mix_into(node.id, inp, start)
        dense = _dense_changes(node, start + frames) if node.lanes else None
        if dense is not None:
            lane, first, stop = dense
            node.proc.process_changes(  # type: ignore[attr-defined]
                inp, out, start, lane.param, lane.samples[first:stop], lane.values[first:stop]
            )
        else:
            due = _due_events(node, start, frames) if node.automation or node.lanes else ()
            if node.feedback:
                node.proc.feedback_read(inp, out, start, due)  # type: ignore[attr-defined]
            elif not node.bypass:
                node.proc.process(inp, out, start, due)
        if node.event_target and events is not None and node.role == "source":
            events.mix_into(node.id, out, start)
        if node.bypass and inp.shape == out.shape:
            out[...] = inp
        if node.mute:
            out.fill(0.0)

    def state(self) -> dict[str, Any]:
        """[main-thread & !processing] Everything a resumed engine needs (for sessions).

        Besides each processor's ``get_state()`` this holds the engine's own memory: the
        latency-compensation delay lines of the input edges (``edges``: node id → one entry
        per compensated input, in edge order) and each node's bypass/mute (``flags``).
        Without the edge lines a resumed render would restart the aligned paths from silence.
        """
        return {
            "position": self.position,
            "nodes": {n.id: n.proc.get_state() for n in self.plan.nodes},
            "edges": {
                n.id: [
                    {"edge": k, "pos": e.pos, "line": e.line.tolist()}
                    for k, e in enumerate(n.edges)
                    if e.line is not None
                ]
                for n in self.plan.nodes
                if any(e.line is not None for e in n.edges)
            },
            "flags": {n.id: {"bypass": n.bypass, "mute": n.mute} for n in self.plan.nodes},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """[main-thread & !active] Apply what :meth:`state` returned, before the first block.

        ``position`` (when present) becomes the next block's start; node states go through
        each processor's ``set_state``; edge lines are copied into the preallocated lines.
        Nodes or edges the state does not mention keep their fresh state.

        A saved state comes from a file (a session), so it is checked where it enters:
        whatever a processor's ``set_state`` refuses (``ValueError``/``TypeError``/...),
        an edge entry that is not ``{edge, pos, line}`` of the planned shape, or a ``pos``
        outside its line is a :class:`GraphError` naming the node, never a crash here or
        later on the audio thread.

        Raises:
            SessionError: a processor refuses its saved state in its own words (shape).
            GraphError: the state names a node the plan lacks, a node state its processor
                refuses, or an edge line that does not fit the plan (saved with another
                graph or block size) or whose read position is outside it.
        """
        if "position" in state:
            self.position = int(state["position"])
            for node in self.plan.nodes:  # automation already applied lives in the node state
                for lane in node.lanes:
                    lane.seek(self.position)
        for node_id, node_state in dict(state.get("nodes", {})).items():
            proc = self._node(node_id).proc
            try:
                proc.set_state(dict(node_state))
            except SessionError as err:  # the processor's own words, with the node named
                raise SessionError(f"node {node_id!r}: {err}") from err
            except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                    OverflowError) as err:  # fmt: skip
                raise GraphError(
                    f"saved state of node {node_id!r} does not fit it: {type(err).__name__}: "
                    f"{str(err)[:200]}"
                ) from err
        for node_id, lines in dict(state.get("edges", {})).items():
            node = self._node(node_id)
            if not isinstance(lines, list | tuple):
                raise GraphError(f"saved compensation lines of node {node_id!r}: not a list")
            for saved in lines:
                _restore_edge(node, node_id, saved)
        for node_id, flags in dict(state.get("flags", {})).items():
            node = self._node(node_id)
            if not isinstance(flags, Mapping):
                raise GraphError(f"saved flags of node {node_id!r}: not an object")
            node.bypass = bool(flags.get("bypass", node.bypass))
            node.mute = bool(flags.get("mute", node.mute))
        self.invalidate()  # flags and processor state changed: rebind the per-block steps

    def _node(self, node_id: str) -> NodeRuntime:
        if node_id not in self.plan.index:
            raise GraphError(f"saved state names node {node_id!r}, which the graph does not have")
        return self.plan.node(node_id)


class _LaneJob:
    """One lane of one level for a worker: its steps, run for the block the engine is in."""

    __slots__ = ("_block", "_run", "_steps")

    def __init__(self, run: _RunLane, steps: list[_Step], block: list[int]) -> None:
        self._run, self._steps, self._block = run, steps, block

    def __call__(self) -> None:
        """[worker-thread & processing] Run the lane for the current ``[start, frames]``."""
        block = self._block
        self._run(self._steps, block[0], block[1])


def _replace_block(node: NodeRuntime, inp: Buffer, out: Buffer, start: int) -> None:
    """[audio-thread & processing] A block of NaN/Inf: the node's fallback, counted."""
    replace_nonfinite(out, inp, node.fallback == "bypass")
    _count_replaced(node, start, out.shape[1])


def _count_replaced(node: NodeRuntime, start: int, frames: int) -> None:
    node.nonfinite_blocks += 1
    node.substituted.note(start, frames)


def _finite_check(out: Buffer) -> Callable[[], bool]:
    """``all_finite(out)`` bound to its compiled entry point (no numba dispatch per block)."""
    return functools.partial(compiled(all_finite, out), out)


def _program_step(node: NodeRuntime, step: _Step) -> ProgramStep | None:
    """``node``'s step as a lane-program step, or None when it needs the Python path.

    It must be a plain event-free call of the processor's :class:`BlockKernel` on the
    step's own views, reading its input in place (a direct upstream, or no input at all).
    """
    i, _, bound, inp, out, gather, special, screen = step
    if special is not None or not bound or not isinstance(node.proc, ProcessorBase):
        return None
    if gather is not None and (gather.edges or inp.shape[0]):
        return None
    block = node.proc.block_kernel(inp, out)
    if block is None or block.args[0] is not inp or block.args[1] is not out:
        return None
    return ProgramStep(i, block, node.fallback == "bypass", screen is not None)


def _fast_call(proc: Any, inp: Buffer, out: Buffer) -> tuple[Any, bool]:
    """The cheapest call equal to ``proc.process(inp, out, start, ())``, and whether it is bound.

    Built-in processors and sinks bind themselves to the node's fixed views
    (``bind_block``): one call per block taking only ``start``, with no Python frame or
    numba type dispatch the kernel does not need (~0.1-0.2 µs a node, as much as a small
    kernel's work at 128 frames). Any other processor keeps ``process``.
    """
    if isinstance(proc, ProcessorBase | OutputSink):
        return proc.bind_block(inp, out), True
    return proc.process, False


def _gather(node: NodeRuntime, inp: Buffer, views: _Views, *, back: bool) -> None:
    """Sum a node's forward (or, after the block, also its feedback) inputs into ``inp``."""
    accumulate = back
    for edge in node.edges:
        if edge.back != back:
            continue
        src = views[edge.src][0] if edge.pre else views[edge.src][1]
        if edge.ramp:
            _mix_ramp(edge, inp, src, accumulate)
        elif edge.line is None:
            mix_scaled(inp, src, edge.gain, accumulate)
        else:
            edge.pos = mix_delayed(inp, src, edge.gain, accumulate, edge.line, edge.pos)
        accumulate = True
    if not accumulate:
        inp.fill(0.0)


def _mix_ramp(edge: InputEdge, inp: Buffer, src: Buffer, accumulate: bool) -> None:
    """Mix one crossfading input and advance its ramp; the end gain is set exactly."""
    line = edge.line if edge.line is not None else _NO_LINE
    edge.pos = mix_ramped(
        inp, src, edge.gain, edge.step, edge.hold, edge.ramp, accumulate, line, edge.pos
    )
    frames = inp.shape[1]
    held = min(frames, edge.hold)
    edge.hold -= held
    done = min(frames - held, edge.ramp)
    edge.ramp -= done
    edge.gain = edge.target if edge.ramp == 0 else edge.gain + edge.step * done


def _gather_sidechain(node: NodeRuntime, side: Buffer, views: _Views) -> None:
    accumulate = False
    for edge in node.sidechain_edges:
        mix_scaled(side, views[edge.src][1], edge.gain, accumulate)
        accumulate = True


def _dense_changes(node: NodeRuntime, end: int) -> tuple[Lane, int, int] | None:
    """The node's one lane and its changes in this block, when one call can render them.

    Taken when the processor renders that parameter's changes itself
    (``CHANGE_PARAMS``), the block holds at least :data:`DENSE_CHANGES` of them and
    nothing else is due (no queued control, no other lane, no feedback or bypass).
    """
    if len(node.lanes) != 1 or node.feedback or node.bypass:
        return None
    if node.automation and node.automation[0][0] < end:
        return None
    lane = node.lanes[0]
    if lane.param not in node.change_params:
        return None
    taken = lane.take(end, DENSE_CHANGES)
    return None if taken is None else (lane, *taken)


def _due_events(node: NodeRuntime, start: int, frames: int) -> list[ParamEvent]:
    """Pop the automation events that fall in this block, as block-relative offsets."""
    end = start + frames
    due: list[ParamEvent] = []
    queue = node.automation
    while queue and queue[0][0] < end:
        when, event = queue.pop(0)
        due.append(ParamEvent(max(0, when - start), event.param, event.value))
    for lane in node.lanes:
        lane.emit(start, end, due)
    if len(due) > 1:
        due.sort(key=_offset)
    return due


def _offset(event: ParamEvent) -> int:
    return event.offset


def _restore_edge(node: NodeRuntime, node_id: str, saved: Any) -> None:
    """Copy one saved compensation line into its preallocated line, after checking it.

    Raises:
        GraphError: not ``{edge, pos, line}``, no such line, another shape, or ``pos``
            outside the line.
    """
    try:
        k, pos = saved["edge"], saved["pos"]
        if isinstance(k, bool) or isinstance(pos, bool):
            raise TypeError("edge and pos are sample counts")
        k, pos = operator.index(k), operator.index(pos)
        edge = node.edges[k] if 0 <= k < len(node.edges) else None
        width = None if edge is None or edge.line is None else edge.line.shape
        line = np.asarray(saved["line"], np.float32) if width is not None else None
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise GraphError(
            f"saved compensation line of node {node_id!r} is not {{edge, pos, line}}: {err}"
        ) from err
    if edge is None or edge.line is None or line is None or edge.line.shape != line.shape:
        raise GraphError(f"saved compensation line {k} of node {node_id!r} does not fit the plan")
    if not 0 <= pos < edge.line.shape[1]:
        raise GraphError(
            f"saved compensation line {k} of node {node_id!r}: pos {pos} is outside its "
            f"{edge.line.shape[1]} samples"
        )
    edge.line[...] = line
    edge.pos = pos
