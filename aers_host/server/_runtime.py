"""The live engine: a plan run block by block in its own thread, paced to the wall clock.

Invariants (what keeps the audio thread real-time whatever the dashboard does):

* The block loop runs in one dedicated thread and never awaits, never blocks on a client
  and holds no lock across a processor call. Producers (WebSocket handlers, REST) only
  ``append`` to a deque; the loop drains it between blocks.
* Pacing: block *k* is started when the wall clock reaches its slot and must be finished
  before slot *k+1* (its deadline); a block finishing later counts one **xrun**. After
  more than :data:`RESYNC_BLOCKS` blocks of lag the clock is re-anchored instead of
  racing to catch up.
* After each block the loop folds every node's levels into preallocated accumulators
  (:class:`~._levels.LevelMeters`) and, once per publish interval, publishes an immutable
  :class:`Snapshot` by swapping a reference. Readers never see a half-written snapshot.
* Controls take effect at a block boundary: flags (bypass, mute, solo) are set on the
  plan's nodes between blocks; parameter changes go through ``Engine.schedule`` and land
  on the first sample of the next block. The :class:`Ack` carries that sample.
* Looping: with a loop length (the config's ``duration``, else the length of finite
  sources), the engine position rewinds to 0 at the end of each pass, every processor is
  reset, compensation delay lines are cleared, config automation is re-armed and the event
  scheduler rewinds — each pass is a fresh render of the scene. Live parameter changes and
  flags persist across passes. Without a loop length (live sources) it runs forever.

Example:
    >>> rt = LiveRuntime.from_config(cfg, registry)       # doctest: +SKIP
    >>> rt.start(); rt.submit(Control("mute", "tone", True)); rt.stop()   # doctest: +SKIP
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._nodetype import NodeType
from .._processor import ParamSpec
from ..config import GraphConfig
from ..errors import GraphError
from ..graph import BlockTimings, Engine, Plan, build_plan, render_length
from ._levels import LevelMeters
from ._model import Ack, Control, Notice, Snapshot
from ._notices import NoticeTrack
from ._solo import SoloRouter

#: Blocks of lag after which pacing re-anchors to the wall clock.
RESYNC_BLOCKS = 8
#: Controls applied between two blocks at most (the rest wait for the next boundary).
MAX_CONTROLS_PER_BLOCK = 64
#: Controls that may wait at once; :meth:`LiveRuntime.submit` refuses more.
MAX_PENDING_CONTROLS = 1024


@dataclass(slots=True)
class _Window:
    """Accumulators between two snapshots (audio thread only)."""

    node_ns_sum: np.ndarray
    node_ns_max: np.ndarray
    block_ns_sum: int = 0
    block_ns_max: int = 0
    blocks: int = 0
    wall0: float = field(default_factory=time.perf_counter)
    thread0: float = 0.0
    process0: float = field(default_factory=time.process_time)


class LiveRuntime:
    """Owns a :class:`Plan` and its :class:`Engine` and runs them in real time."""

    def __init__(
        self,
        plan: Plan,
        registry: Mapping[str, NodeType],
        *,
        events: Any = None,
        loop_frames: int | None = None,
        publish_interval: float = 1 / 30,
        history_blocks: int = 8192,
    ) -> None:
        """[main-thread] Wire meters, timings and the solo routing table; start nothing.

        Args:
            plan: a built plan; the runtime closes it in :meth:`close`.
            registry: node types, for each node's declared parameters.
            events: a prepared ``EventScheduler`` (or None).
            loop_frames: pass length in frames; None runs without looping.
            publish_interval: seconds between snapshots (the feed's frame period).
            history_blocks: block timings kept for percentiles (a ring).
        """
        self.plan = plan
        self.events = events
        self.loop_frames = loop_frames
        self.publish_interval = float(publish_interval)
        self.timings = BlockTimings.allocate(history_blocks, len(plan.nodes))
        self.engine = Engine(plan, events=events, timings=self.timings)
        self.specs: dict[str, dict[str, ParamSpec]] = {
            n.id: {s.name: s for s in registry[n.type_name].param_specs()} for n in plan.nodes
        }
        self.meters = LevelMeters.for_plan(plan)
        self.loop = 0
        self.blocks = 0
        self.xruns = 0
        self.history_full = False
        self.soloed: set[int] = set()
        self.audible: set[int] = set(range(len(plan.nodes)))
        self._router = SoloRouter(plan)
        self._automation = [list(n.automation) for n in plan.nodes]
        self._track = NoticeTrack(events, plan)
        self._controls: collections.deque[Control] = collections.deque()
        self._acks: collections.deque[Ack] = collections.deque(maxlen=4096)
        self._notices: collections.deque[Notice] = collections.deque(maxlen=4096)
        self._snapshot: Snapshot | None = None
        self._window = _Window(np.zeros(len(plan.nodes)), np.zeros(len(plan.nodes)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._reset_history = False
        self._warming = False
        self._due = 0.0
        self._sinks = [
            n.proc for n in plan.nodes if n.role == "sink" and hasattr(n.proc, "needs_drain")
        ]
        #: Called (from the audio thread) after each snapshot is published.
        self.notify: Callable[[], None] | None = None

    @classmethod
    def from_config(
        cls, config: GraphConfig, registry: Mapping[str, NodeType], **options: Any
    ) -> LiveRuntime:
        """Plan ``config`` with its scene events and derive the loop length.

        Raises:
            GraphError: the graph cannot be built.
            ConfigError: the scene's events are invalid.
        """
        from ..events import scheduler_for_config

        scheduler = scheduler_for_config(config, registry)
        targets = scheduler.targets() if scheduler is not None else frozenset()
        plan = build_plan(config, registry, event_targets=targets)
        try:
            loop_frames: int | None = render_length(config, plan)
        except GraphError:
            loop_frames = None  # live sources and no duration: run forever
        return cls(plan, registry, events=scheduler, loop_frames=loop_frames, **options)

    # ----------------------------------------------------------------- main-thread API

    @property
    def sample_rate(self) -> int:
        """Graph sample rate in Hz."""
        return self.plan.sample_rate

    @property
    def snapshot(self) -> Snapshot | None:
        """[any-thread] The latest published snapshot (None before the first)."""
        return self._snapshot

    @property
    def running(self) -> bool:
        """[any-thread] True while the block thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """[main-thread] Start the paced block thread."""
        if self.running:
            raise RuntimeError("LiveRuntime already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="aers-audio", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """[main-thread] Stop the block thread after its current block."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """[main-thread] Stop and release the plan's processors."""
        self.stop()
        self.plan.close()

    def submit(self, control: Control) -> bool:
        """[any-thread] Queue a validated control for the next block boundary.

        Returns:
            False (nothing queued) when :data:`MAX_PENDING_CONTROLS` are already waiting.
        """
        if len(self._controls) >= MAX_PENDING_CONTROLS:
            return False
        self._controls.append(control)
        return True

    def drain_acks(self) -> list[Ack]:
        """[any-thread, one consumer] Acks produced since the last call."""
        return _drain(self._acks)

    def drain_notices(self) -> list[Notice]:
        """[any-thread, one consumer] Event notices produced since the last call."""
        return _drain(self._notices)

    def flags(self, index: int) -> tuple[bool, bool, bool, bool]:
        """[any-thread] (bypass, mute, solo, audible) of node ``index``."""
        node = self.plan.nodes[index]
        return node.bypass, node.mute, index in self.soloed, index in self.audible

    def param_values(self, node_id: str) -> dict[str, float]:
        """[any-thread] Current values of a node's declared params (defaults if unknown)."""
        values = getattr(self.plan.node(node_id).proc, "values", None)
        specs = self.specs[node_id]
        if isinstance(values, Mapping):
            return {k: float(values.get(k, s.default)) for k, s in specs.items()}
        return {k: s.default for k, s in specs.items()}

    def block_ns(self) -> np.ndarray:
        """[any-thread] Propagation time of the recorded blocks (a copy of the ring)."""
        return self.timings.block_ns[: self._recorded()].copy()

    def node_ns(self) -> np.ndarray:
        """[any-thread] Per-node process time of the recorded blocks, (blocks, nodes)."""
        return self.timings.node_ns[: self._recorded()].copy()

    def _recorded(self) -> int:
        return len(self.timings.block_ns) if self.history_full else self.timings.count

    def reset_history(self) -> None:
        """[any-thread] Forget recorded block timings at the next block boundary."""
        self._reset_history = True

    # ------------------------------------------------------------------- audio thread

    def run_blocks(self, count: int) -> None:
        """[audio-thread] Process ``count`` blocks now, unpaced (tests, benchmarks)."""
        for _ in range(count):
            self._one_block()

    def _run(self) -> None:
        period_ns = self.plan.block_size * 1e9 / self.sample_rate
        self._warming = True
        self._one_block()  # warm-up (JIT, caches): not paced, not measured, not published
        self._warming = False
        self.meters.take()
        self.timings.count, self.history_full = 0, False
        n = len(self.plan.nodes)
        self._window = _Window(np.zeros(n), np.zeros(n), thread0=time.thread_time())
        self._due = time.perf_counter() + self.publish_interval  # first window: a full one
        slot = float(time.perf_counter_ns())
        while not self._stop.is_set():
            now = time.perf_counter_ns()
            if now < slot:
                time.sleep((slot - now) / 1e9)
            frames = self._one_block()
            slot += frames * 1e9 / self.sample_rate  # this block's deadline, the next's slot
            end = time.perf_counter_ns()
            if end > slot:
                self.xruns += 1
                if end - slot > RESYNC_BLOCKS * period_ns:
                    slot = float(end)

    def _one_block(self) -> int:
        applied = self._apply_controls()
        frames = self.plan.block_size
        if self.loop_frames is not None:
            frames = min(frames, self.loop_frames - self.engine.position)
        for sink in self._sinks:
            sink.reset()  # live mode writes no files: drop what the output sink kept
        start = self.engine.process_block(frames)
        self._after_block(start, frames)
        for ack in applied:
            self._acks.append(ack)
        if applied and self.notify is not None:
            self.notify()  # acks should not wait for the next frame
        if self.loop_frames is not None and self.engine.position >= self.loop_frames:
            self._rewind()
        return frames

    def _apply_controls(self) -> list[Ack]:
        applied: list[Ack] = []
        solo_changed = False
        while self._controls and len(applied) < MAX_CONTROLS_PER_BLOCK:
            control = self._controls.popleft()
            index = self.plan.index[control.node]
            node = self.plan.nodes[index]
            if control.action == "param":
                self.engine.schedule(control.node, control.param, float(control.value))
            elif control.action == "bypass":
                node.bypass = bool(control.value)
            elif control.action == "mute":
                node.mute = bool(control.value)
            else:
                before = set(self.soloed)
                (self.soloed.add if control.value else self.soloed.discard)(index)
                solo_changed = solo_changed or before != self.soloed
            applied.append(Ack(control, self.engine.position, self.loop))
        if solo_changed:
            self.audible = self._router.apply(self.soloed)
        if applied:
            self._invalidate()
        return applied

    def _invalidate(self) -> None:
        """Tell the engine that flags or routing changed (it caches per-node steps)."""
        invalidate = getattr(self.engine, "invalidate", None)
        if callable(invalidate):
            invalidate()

    def _after_block(self, start: int, frames: int) -> None:
        timings = self.timings
        row = timings.count - 1
        window = self._window
        node_ns = timings.node_ns[row]
        np.add(window.node_ns_sum, node_ns, out=window.node_ns_sum)
        np.maximum(window.node_ns_max, node_ns, out=window.node_ns_max)
        block_ns = int(timings.block_ns[row])
        window.block_ns_sum += block_ns
        window.block_ns_max = max(window.block_ns_max, block_ns)
        window.blocks += 1
        if timings.count == len(timings.block_ns) or self._reset_history:
            self.history_full = not self._reset_history
            self._reset_history = False
            timings.count = 0
        self.meters.accumulate(frames)
        self.blocks += 1
        if self._track:
            self._track.emit(start, start + frames, self.loop, self._notices)
        now = time.perf_counter()
        if not self._warming and now >= self._due:
            # Keep the average rate exact although blocks quantise time (3 or 4 blocks
            # per frame at 30 Hz), but never try to catch up after a stall.
            due = self._due + self.publish_interval
            self._due = due if due > now else now + self.publish_interval
            self._publish(start, block_ns)

    def _publish(self, start: int, block_ns: int) -> None:
        window = self._window
        now, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
        wall = max(now - window.wall0, 1e-9)
        peak, rms = self.meters.take()
        blocks = max(window.blocks, 1)
        in_flight = self.events.in_flight(start) if self.events is not None else 0
        self._seq += 1
        self._snapshot = Snapshot(
            seq=self._seq,
            sample=start,
            loop=self.loop,
            blocks=window.blocks,
            peak=self.meters.split(peak),
            rms=self.meters.split(rms),
            node_us_mean=window.node_ns_sum / blocks / 1e3,
            node_us_max=window.node_ns_max / 1e3,
            block_us_last=block_ns / 1e3,
            block_us_mean=window.block_ns_sum / blocks / 1e3,
            block_us_max=window.block_ns_max / 1e3,
            engine_cpu=100.0 * (thread - window.thread0) / wall,
            process_cpu=100.0 * (process - window.process0) / wall,
            xruns=self.xruns,
            in_flight=int(in_flight),
            flags=tuple(self.flags(i) for i in range(len(self.plan.nodes))),
        )
        n = len(self.plan.nodes)
        self._window = _Window(np.zeros(n), np.zeros(n), wall0=now, thread0=thread)
        if self.notify is not None:
            self.notify()

    def _rewind(self) -> None:
        """End of a pass: a fresh render of the scene from sample 0 (see module docstring)."""
        self.engine.position = 0
        self.loop += 1
        self._track.rewind()
        for i, node in enumerate(self.plan.nodes):
            node.proc.reset()
            node.automation[:] = self._automation[i]
            for lane in getattr(node, "lanes", ()):
                lane.seek(0)  # config automation replays every pass
            for edge in node.edges:
                if edge.line is not None:
                    edge.line.fill(0.0)
                    edge.pos = 0
        reset = getattr(self.events, "reset", None)
        if callable(reset):
            reset()
        self._invalidate()


def _drain(queue: collections.deque[Any]) -> list[Any]:
    out = []
    while queue:
        out.append(queue.popleft())
    return out
