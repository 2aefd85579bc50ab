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
* With a JACK device (:meth:`LiveRuntime.use_device`, ``aers serve --jack``) JACK's clock
  paces the loop instead of the wall clock: a block starts when the device has room for
  it (and captured input for it), and every underrun of the device counts one xrun. The
  thread then runs ``SCHED_FIFO`` where allowed (docs/live-audio.md).
* Live edits (:class:`~aers_host.live.LiveGraph`) are validated and prepared by the thread
  that submits them; the loop puts them live between blocks, then re-resolves everything
  it holds per plan (:class:`~._plans.PlanView`: meters, specs, solo router) and remaps
  the solo set by node id. It never keeps a node reference across a block boundary.

Example:
    >>> rt = LiveRuntime.from_config(cfg, registry)       # doctest: +SKIP
    >>> rt.start(); rt.submit(Control("mute", "tone", True)); rt.stop()   # doctest: +SKIP
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._nodetype import NodeType
from .._threads import helper_thread
from .._timing import sleep_until
from ..config import GraphConfig
from ..graph import Engine, Plan
from ..live import EditTicket, JournalEntry, LiveGraph
from ._model import Ack, Control, Notice, Snapshot
from ._notices import NoticeTrack
from ._plans import PlanView, live_graph_for, remap
from ._window import Window, make_snapshot

if TYPE_CHECKING:
    from ..device import JackDevice, PlanBridge, UnderrunBlame
    from ..errors import AudioDeviceError

#: Blocks of lag after which pacing re-anchors to the wall clock.
RESYNC_BLOCKS = 8
#: Controls applied between two blocks at most (the rest wait for the next boundary).
MAX_CONTROLS_PER_BLOCK = 64
#: Controls that may wait at once; :meth:`LiveRuntime.submit` refuses more.
MAX_PENDING_CONTROLS = 1024
#: Scene voices described in the ``graph`` message at most (the timeline's data).
MAX_SCENE_VOICES = 2000
#: Seconds an edit waits for the previous one to finish fading in.
EDIT_WAIT = 5.0


class LiveRuntime:
    """Owns a :class:`~aers_host.live.LiveGraph` (plan + engine) and runs it in real time."""

    def __init__(
        self,
        live: LiveGraph,
        *,
        events: Any = None,
        loop_frames: int | None = None,
        publish_interval: float = 1 / 30,
    ) -> None:
        """[main-thread] Wire meters, timings and the solo routing table; start nothing.

        Args:
            live: the editable graph (built with ``prepare=PlanView.of`` and a timing ring);
                the runtime closes it in :meth:`close`.
            events: the prepared ``EventScheduler`` the graph mixes from (or None).
            loop_frames: pass length in frames; None runs without looping.
            publish_interval: seconds between snapshots (the feed's frame period).
        """
        if not isinstance(live.extra, PlanView) or live.engine.timings is None:
            raise ValueError("LiveRuntime needs a LiveGraph built by LiveRuntime.from_config")
        self.live = live
        self.events = events
        self.loop_frames = loop_frames
        self.publish_interval = float(publish_interval)
        self.loop = 0
        self.blocks = 0
        self.xruns = 0
        #: Blocks whose own work, measured as the audio thread's CPU time, took longer than
        #: a block period (late *because of* the engine, not a busy machine); the longest.
        self.overruns = self.block_cpu_ns_max = 0
        #: Blocks that put an edit (or the end of its fade) live; those of them late (any
        #: cause); those whose own work (swap + processing) took longer than a block period
        #: (the edit's fault); the longest such work, ns.
        self.edit_blocks = self.edit_xruns = self.edit_overruns = self.edit_block_ns_max = 0
        self.edit_block_cpu_ns_max = 0
        self.soloed: set[int] = set()
        self.audible: set[int] = set(range(len(self.plan.nodes)))
        self._track = NoticeTrack(events, self.plan)
        #: The scene's voices (start/end samples, first :data:`MAX_SCENE_VOICES`).
        self.scene = self._track.scene(MAX_SCENE_VOICES)
        self._controls: collections.deque[Control] = collections.deque()
        self._acks: collections.deque[Ack] = collections.deque(maxlen=4096)
        self._notices: collections.deque[Notice] = collections.deque(maxlen=4096)
        #: Edits whose fade finished (the graph clients see changed), for the feed.
        self._edited: collections.deque[JournalEntry] = collections.deque(maxlen=1024)
        self._snapshot: Snapshot | None = None
        self._window = Window.empty(len(self.plan.nodes))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._reset_history = False
        self._warming = False
        self._swapped = False
        self._due = 0.0
        #: A state capture asked for by :meth:`capture_state`, answered between blocks.
        self._state_wanted = threading.Event()
        self._state_ready = threading.Event()
        self._captured: dict[str, Any] | None = None
        #: Records output nodes' audio when set (``aers serve --record``).
        self.recorder: Any = None
        #: Called (from the audio thread) after each snapshot is published.
        self.notify: Callable[[], None] | None = None
        #: The JACK device that paces the loop (None: the wall clock does).
        self.device: JackDevice | None = None
        self._bridge: PlanBridge | None = None
        #: Who the device's underruns are blamed on (device mode only).
        self.blame: UnderrunBlame | None = None
        self._connect = False
        #: Why the device stopped the loop (the JACK server went away), else None.
        self.device_error: AudioDeviceError | None = None
        #: Called (from the audio thread) when the device stops the loop.
        self.on_device_lost: Callable[[], None] | None = None
        #: Whether the audio thread got real-time scheduling (device mode only).
        self.engine_realtime = False

    @classmethod
    def from_config(
        cls, config: GraphConfig, registry: Mapping[str, NodeType], **options: Any
    ) -> LiveRuntime:
        """Plan ``config`` with its scene events and derive the loop length.

        Args:
            config: the validated config.
            registry: node types.
            options: ``crossfade_ms``, ``history_blocks`` (see ``live_graph_for``),
                ``loop_frames``/``publish_interval`` (see the constructor).

        Raises:
            GraphError: the graph cannot be built.
            ConfigError: the scene's events are invalid.
        """
        live, scheduler, loop_frames = live_graph_for(
            config,
            registry,
            crossfade_ms=float(options.pop("crossfade_ms", 10.0)),
            history_blocks=int(options.pop("history_blocks", 8192)),
        )
        options.setdefault("loop_frames", loop_frames)
        return cls(live, events=scheduler, **options)

    # ------------------------------------------------------------- the current plan

    @property
    def view(self) -> PlanView:
        """[any-thread] The running plan and what belongs to it (take it once, then use it)."""
        view: PlanView = self.live.extra
        return view

    @property
    def plan(self) -> Plan:
        """[any-thread] The running plan."""
        return self.view.plan

    @property
    def engine(self) -> Engine:
        """[any-thread] The running engine."""
        return self.view.engine

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

    def use_device(self, device: JackDevice, *, connect: bool = False) -> None:
        """[main-thread & !running] Play through ``device`` (JACK) instead of the wall clock.

        Ports are made now, from the running plan; the client is activated (and with
        ``connect`` wired to the system ports) by the audio thread when it starts.

        Raises:
            AudioDeviceError: the device refuses the ports or the pre-roll is too short.
        """
        from ..device import PlanBridge, UnderrunBlame, attach_plan

        attach_plan(device, self.plan)
        self.device, self._bridge, self._connect = device, PlanBridge(device), connect
        self.blame = UnderrunBlame(device)

    def start(self) -> None:
        """[main-thread] Start the paced block thread."""
        if self.running:
            raise RuntimeError("LiveRuntime already running")
        self._stop.clear()
        self._thread = helper_thread(self._run, "aers-audio")
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """[main-thread] Stop the block thread after its current block."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """[main-thread] Stop and release every processor (running and retired plans)."""
        self.stop()
        self.live.close()

    def submit(self, control: Control) -> bool:
        """[any-thread] Queue a validated control for the next block boundary.

        Returns:
            False (nothing queued) when :data:`MAX_PENDING_CONTROLS` are already waiting.
        """
        if len(self._controls) >= MAX_PENDING_CONTROLS:
            return False
        self._controls.append(control)
        return True

    def submit_edit(self, ops: Any, who: str) -> EditTicket:
        """[main-thread, not the event loop] Validate and prepare a live edit (see LiveGraph).

        Retired processors of earlier edits are closed first. Waits up to
        :data:`EDIT_WAIT` seconds for a previous edit to finish fading in.

        Raises:
            ConfigError: the edit is invalid (nothing changed).
            GraphError: it cannot be prepared or crossfaded (nothing changed).
        """
        self.live.collect()
        return self.live.submit(ops, who=who, wait=EDIT_WAIT)

    def capture_state(self, timeout: float) -> dict[str, Any] | None:
        """[any-thread but audio] The engine's full state (every processor's), between blocks.

        The audio thread takes it at its next block boundary once no edit is fading in
        (the running plan is then the config), so it is consistent with the position it
        holds. Reading processor state (a sandbox worker answers a control request) costs
        that block its share of time: a session autosave may cause one xrun.
        When the block thread is not running, the state is read here.

        Returns:
            What :meth:`Engine.state` returns, or None when no boundary came in ``timeout``.
        """
        if not self.running:
            return self.live.engine.state() if self.live.settled else None
        self._state_ready.clear()
        self._captured = None
        self._state_wanted.set()
        if not self._state_ready.wait(timeout):
            self._state_wanted.clear()
            return None
        return self._captured

    def _answer_state(self) -> None:
        """[audio-thread, between blocks] Take the state :meth:`capture_state` waits for."""
        if self.live.settled:
            self._state_wanted.clear()
            self._captured = self.live.engine.state()
            self._state_ready.set()

    def drain_acks(self) -> list[Ack]:
        """[any-thread, one consumer] Acks produced since the last call."""
        return _drain(self._acks)

    def drain_notices(self) -> list[Notice]:
        """[any-thread, one consumer] Event notices produced since the last call."""
        return _drain(self._notices)

    def drain_edited(self) -> list[JournalEntry]:
        """[any-thread, one consumer] Journal entries of edits whose fade finished since."""
        return _drain(self._edited)

    def flags(self, index: int, view: PlanView | None = None) -> tuple[bool, bool, bool, bool]:
        """[any-thread] (bypass, mute, solo, audible) of node ``index`` of ``view``'s plan."""
        view = view or self.view
        node = view.plan.nodes[index]
        same = view is self.view  # solo sets are indices into the running plan
        return node.bypass, node.mute, same and index in self.soloed, same and index in self.audible

    def param_values(self, node_id: str) -> dict[str, float]:
        """[any-thread] Current values of a node's declared params (defaults if unknown)."""
        return self.view.param_values(node_id)

    def block_ns(self) -> np.ndarray:
        """[any-thread] Propagation time of the recorded blocks (a copy of the ring)."""
        return self.view.recorded_timings()[0]

    def node_ns(self) -> np.ndarray:
        """[any-thread] Per-node process time of the recorded blocks, (blocks, nodes)."""
        return self.view.recorded_timings()[1]

    def reset_history(self) -> None:
        """[any-thread] Forget recorded block timings at the next block boundary."""
        self._reset_history = True

    # ------------------------------------------------------------------- audio thread

    def run_blocks(self, count: int) -> None:
        """[audio-thread] Process ``count`` blocks now, unpaced (tests, benchmarks)."""
        for _ in range(count):
            self._one_block()

    def _run(self) -> None:
        if self.device is not None and self.blame is not None:
            self._run_device(self.device, self.blame)
            return
        period_ns = self.plan.block_size * 1e9 / self.sample_rate
        self._warming = True
        self._one_block()  # warm-up (JIT, caches): not paced, not measured, not published
        self._warming = False
        self.view.forget_history()
        self._window = Window.empty(len(self.plan.nodes), thread0=time.thread_time())
        self._due = time.perf_counter() + self.publish_interval  # first window: a full one
        slot = float(time.perf_counter_ns())
        while not self._stop.is_set():
            if time.perf_counter_ns() < slot:
                sleep_until(slot / 1e9, self.engine.prewake)
            frames = self._one_block()
            slot += frames * 1e9 / self.sample_rate  # this block's deadline, the next's slot
            end = time.perf_counter_ns()
            if end > slot:
                self.xruns += 1
                self.edit_xruns += self._swapped
                if end - slot > RESYNC_BLOCKS * period_ns:
                    slot = float(end)

    def _run_device(self, device: JackDevice, blame: UnderrunBlame) -> None:
        """The loop paced by JACK: wait for room, render, count the device's underruns."""
        from ..device import RealtimeThread
        from ..errors import AudioDeviceError

        self.engine_realtime = RealtimeThread().enter()  # this thread ends with the loop
        self._window = Window.empty(len(self.plan.nodes), thread0=time.thread_time())
        self._due = time.perf_counter() + self.publish_interval
        try:
            device.start(connect=self._connect)
            while not self._stop.is_set():
                device.wait_ready(self.plan.block_size)
                frames = self._one_block()
                view = self.view
                new = blame.update(view.plan, view.engine.timings, frames)
                if new:
                    self.xruns += new
                    self.edit_xruns += new if self._swapped else 0
        except AudioDeviceError as err:
            self.device_error = err
            if self.on_device_lost is not None:
                self.on_device_lost()

    def _one_block(self) -> int:
        t0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        before = self.view
        self._swapped = self.live.advance()
        if self._swapped:
            self._adopt(before)
        applied = self._apply_controls()
        if self._state_wanted.is_set() and not self._swapped:  # not on an edit's own block
            self._answer_state()
        view = self.view
        frames = view.plan.block_size
        if self.loop_frames is not None:
            frames = min(frames, self.loop_frames - view.engine.position)
        for sink in view.sinks:
            sink.reset()  # live mode writes no files: drop what the output sink kept
        bridge = self._bridge
        if bridge is not None:
            bridge.feed(view.plan, frames)
        start = view.engine.process_block(frames)
        if bridge is not None:
            bridge.collect(view.plan, frames)
        # A block's own work is this thread's CPU time: wall time also counts the scheduler
        # lending the core to other processes, which is not the engine's doing (that shows
        # up in xruns instead).
        work = time.thread_time_ns() - cpu0
        overran = work * self.sample_rate > frames * 1_000_000_000
        if not self._warming:
            self.overruns += overran
            self.block_cpu_ns_max = max(self.block_cpu_ns_max, work)
        if self._swapped:
            self.edit_block_ns_max = max(self.edit_block_ns_max, time.perf_counter_ns() - t0)
            self.edit_block_cpu_ns_max = max(self.edit_block_cpu_ns_max, work)
            self.edit_overruns += overran
        self._after_block(view, start, frames)
        for ack in applied:
            self._acks.append(ack)
        if (applied or self._swapped) and self.notify is not None:
            self.notify()  # acks and edits should not wait for the next frame
        if self.loop_frames is not None and view.engine.position >= self.loop_frames:
            self._rewind()
        return frames

    def _adopt(self, before: PlanView) -> None:
        """A live edit swapped the plan: re-resolve everything held by index."""
        view = self.view
        self.edit_blocks += 1
        self.soloed = remap(self.soloed, before.plan, view.plan)
        n = len(view.plan.nodes)
        self.audible = view.router.apply(self.soloed) if self.soloed else set(range(n))
        self._window = self._window.resized(n)
        view.engine.invalidate()
        if self.live.settled and self.live.journal:  # a swap that settles was journalled
            self._edited.append(self.live.journal[-1])

    def _apply_controls(self) -> list[Ack]:
        applied: list[Ack] = []
        solo_changed = False
        view = self.view
        while self._controls and len(applied) < MAX_CONTROLS_PER_BLOCK:
            control = self._controls.popleft()
            index = view.index_of(control.node)
            if index is None:
                continue  # an edit removed the node after the control was validated
            node = view.plan.nodes[index]
            if control.action == "param":
                view.engine.schedule(control.node, control.param, float(control.value))
            elif control.action == "bypass":
                node.bypass = bool(control.value)
            elif control.action == "mute":
                node.mute = bool(control.value)
            else:
                before = set(self.soloed)
                (self.soloed.add if control.value else self.soloed.discard)(index)
                solo_changed = solo_changed or before != self.soloed
            applied.append(Ack(control, view.engine.position, self.loop))
        if solo_changed:
            self.audible = view.router.apply(self.soloed)
        if applied:
            view.engine.invalidate()  # flags or routing changed (it caches per-node steps)
        return applied

    def _after_block(self, view: PlanView, start: int, frames: int) -> None:
        timings = view.engine.timings
        assert timings is not None
        row = timings.count - 1
        block_ns = int(timings.block_ns[row])
        self._window.fold(timings.node_ns[row], block_ns)
        if timings.count == len(timings.block_ns) or self._reset_history:
            view.history_full = not self._reset_history
            self._reset_history = False
            timings.count = 0
        view.meters.accumulate(frames)
        view.loudness.accumulate(frames)
        if self.recorder is not None and not self._warming:
            self.recorder.capture(view, start, frames, self.loop)
        self.blocks += 1
        if self._track:
            self._track.emit(start, start + frames, self.loop, self._notices)
        now = time.perf_counter()
        if not self._warming and now >= self._due:
            # Keep the average rate exact although blocks quantise time (3 or 4 blocks
            # per frame at 30 Hz), but never try to catch up after a stall.
            due = self._due + self.publish_interval
            self._due = due if due > now else now + self.publish_interval
            self._seq += 1
            self._snapshot, self._window = make_snapshot(
                self, view, self._window, self._seq, start, block_ns
            )
            if self.notify is not None:
                self.notify()

    def _rewind(self) -> None:
        """End of a pass: a fresh render of the scene from sample 0 (see module docstring)."""
        if self._track and self.loop_frames is not None:
            self._track.cut(self.loop_frames, self.loop, self._notices)
        self.loop += 1
        self._track.rewind()
        self.view.rewind()
        reset = getattr(self.events, "reset", None)
        if callable(reset):
            reset()


def _drain(queue: collections.deque[Any]) -> list[Any]:
    out = []
    while queue:
        out.append(queue.popleft())
    return out
