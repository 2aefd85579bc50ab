"""SandboxedProcessor: a Processor whose plugin code runs in a fenced worker process.

Each node has its own SandboxedProcessor (counters, params, state, fallback); the worker it
talks to is a :class:`~._link.WorkerLink`, private to the node (``per-instance``) or shared
with the other nodes of its group (``per-plugin``, ``shared``; see :mod:`._scope`).

Invariants (the audio thread must never stall on a worker):

* ``process`` copies the input into the node's region of shared memory, writes one
  doorbell (non-blocking) and waits for the reply at most ``deadline_s`` — spinning
  briefly, then ``select``. A late reply makes the block an xrun with the node's fallback;
  the reply's sequence number tells it apart from the next block's, and no new block is
  rung while one is still out (for any node of the worker).
* A dead worker (EOF on the reply pipe) or one whose block is out longer than
  ``hang_timeout_s`` is handed to the supervisor thread, which kills it and starts a new one
  with every hosted node's last good state. Until the new worker is adopted every node it
  hosts outputs its fallback; the node whose code was running is named the culprit.
* Failures (crash, hang, exception in plugin code) go through a :class:`FailureWindow`;
  ``max_failures`` within the window mark the node failed: fallback for the rest of the run.
* A worker that refuses the node's plugin at start (a refused import, a ``prepare`` that
  raises or outlasts ``start_timeout_s``) or cannot start fails the node from the start
  (:meth:`SandboxedProcessor.refuse`): fallback for the run, the run itself goes on.
* NaN/Inf in the output never leaves the node: the host screens every block it copies out.
* A node in a fused run (:mod:`._fusion`) may have its block computed by the run's leader;
  it then only copies its output out of shared memory.
* Offline (``set_timing(OFFLINE)``, what renders use) there is no deadline: each block is
  waited for up to the node's hang limit, a hang or crash restarts the worker and the
  block is retried once (:meth:`~._link.WorkerLink.exchange`), and the worker snapshots
  state after every block so the retry starts where the lost block did.
* Every block that outputs the fallback (or a plugin's own fallback after an exception or
  NaN) is recorded in :attr:`SandboxedProcessor.substitutions`.

Counters (``xruns``, ``nan_blocks``, ``restarts``, ``errors``, ``fallback_blocks``,
``failed``, ``failure_reason``) reach metrics and the feed through ``health()``
(:class:`~aers_host._features.ReportsHealth`), the worker's pid through ``worker_pid``.
"""

from __future__ import annotations

import atexit
import time
import weakref
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._features import (
    FailureCounters,
    FollowsTiming,
    HoldsResources,
    LogsSubstitutions,
    ReportsValues,
    RunsInWorker,
    WaitsElsewhere,
)
from .._processor import Buffer, ParamEvent
from .._timing import REALTIME, SubstitutionLog, Timing
from . import _protocol as proto
from ._link import WorkerLink
from ._options import FailureWindow, NodeOptions, StageSpec
from ._refused import one_line
from ._runtime import MAX_LATENCY, all_finite, apply_fallback
from ._scope import current_scope
from ._spawn import WorkerProcess

if TYPE_CHECKING:
    from ._fusion import FusedRun

_live: weakref.WeakSet[SandboxedProcessor] = weakref.WeakSet()
_cleaned_up = False


class SandboxedProcessor(
    FailureCounters,
    RunsInWorker,
    WaitsElsewhere,
    HoldsResources,
    FollowsTiming,
    LogsSubstitutions,
    ReportsValues,
):
    """[main-thread] A chain of one or more sandboxed plugins: one node of the graph.

    Args:
        stages: the plugins, in order (one for a plugin node, several for a chain).
        options: the node's validated options.
        label: the node id, used in every message.
        share: the group key of the worker this node may share (None: a private worker).
    """

    def __init__(
        self,
        stages: Sequence[StageSpec],
        options: NodeOptions,
        label: str,
        share: Hashable | None = None,
    ) -> None:
        if not stages:
            raise ValueError("a sandboxed processor needs at least one stage")
        self.stages = tuple(stages)
        self.options = options
        self.label = label
        self.share = share
        self.latency_samples = sum(s.latency_samples for s in stages)
        # A chain falls back as a whole: silence if any of its nodes asks for silence.
        self._fallback_mode = (
            "silence" if any(s.fallback == "silence" for s in stages) else "bypass"
        )
        self.window = FailureWindow(options.max_failures, options.failure_window_s)
        self.xruns = self.nan_blocks = self.restarts = self.errors = self.fallback_blocks = 0
        #: Blocks whose output was a fallback instead of the plugin's processing.
        self.substitutions = SubstitutionLog()
        #: Real time (deadlines) until the planner says otherwise.
        self.timing = REALTIME
        self.fences: dict[str, str] = {}
        #: Current parameter values per stage (events update them; restarts resend them).
        self.params = [dict(s.params) for s in stages]
        #: Event parameter name → (stage, index): ``name`` for stage 0, ``"k:name"`` for any.
        self.param_index: dict[str, tuple[int, int]] = {}
        for k, stage in enumerate(stages):
            for i, name in enumerate(stage.ranges):
                self.param_index.setdefault(f"{k}:{name}", (k, i))
                if k == 0:
                    self.param_index[name] = (0, i)
        self._user_states: list[dict[str, Any]] | None = None
        self._last_states: list[dict[str, Any]] | None = None
        self.closed = False
        self.link: WorkerLink | None = None
        #: This node's instance index in its worker.
        self.instance = 0
        self.channels = 0
        self.run: FusedRun | None = None
        self._zeros = np.zeros(0, np.float32)

    @property
    def values(self) -> Mapping[str, float]:
        """[any-thread] Running values of the first stage's parameters (what the node declares).

        The dashboard and ``GET /api/nodes`` read these, so they show what the plugin plays
        with — config values and every change since — never the manifest defaults.
        """
        return self.params[0]

    # ------------------------------------------------------------------ counters
    @property
    def failed(self) -> bool:
        """[any-thread] True once the node is on fallback for good."""
        return self.window.failed

    @property
    def failure_reason(self) -> str:
        """[any-thread] Why the node failed (or the last failure seen), "" if none."""
        return self.window.reason

    @property
    def _worker(self) -> WorkerProcess | None:
        """[any-thread] The worker process now serving this node (None while restarting)."""
        return self.link.worker if self.link is not None else None

    @property
    def waits_on(self) -> WorkerLink | None:
        """[main-thread] The worker link, shared by every node it hosts; None once refused."""
        return self.link

    @property
    def worker_pid(self) -> int | None:
        """[any-thread] OS pid of the worker serving this node (for per-worker CPU metrics)."""
        worker = self._worker
        return worker.pid if worker is not None else None

    @property
    def hang_limit_s(self) -> float:
        """[any-thread] Offline: how long a block may be out before the worker counts as hung."""
        return self.timing.hang_limit(self.options.hang_limit_s)

    @property
    def state_every_s(self) -> float:
        """[any-thread] How often the worker snapshots state: every block when offline."""
        return self.options.state_every_s if self.timing.realtime else 0.0

    # ------------------------------------------------------------------ lifecycle
    def set_timing(self, timing: Timing) -> None:
        """[main-thread & !active] Real time (deadlines) or offline (wait; hang limit only).

        Called by the planner before :meth:`prepare`, so the worker starts with the
        snapshot rhythm of the mode.
        """
        self.timing = timing

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Join a worker: a shared one of the current scope, or a new one.

        A private worker starts now; a shared one starts when its
        :class:`~._scope.WorkerScope` exits (then every node it hosts is known), as does a
        private one in a scope that only describes the graph (which may not start it). A worker
        that cannot start, or that refuses this node's plugin (a refused import, a
        ``prepare`` that raises or never returns), does not raise: the node is failed from
        the start (:meth:`refuse`) with the worker's reason.
        """
        global _cleaned_up
        self._leave()
        self.closed = False
        if not _cleaned_up:
            proto.cleanup_stale_segments()
            _cleaned_up = True
        self.channels = channels
        self._zeros = np.zeros(channels * max_block, np.float32)
        _live.add(self)
        scope = current_scope()
        if scope is not None and self.share is None and not scope.describe_only:
            scope = None  # a private worker starts now, unless the scope only describes
        link = (
            scope.link(self.share if self.share is not None else self, sample_rate, max_block)
            if scope is not None
            else WorkerLink(sample_rate, max_block)
        )
        self.instance = link.join(self)
        self.link = link
        if scope is None:
            link.start()

    def refuse(self, reason: str) -> None:
        """[main-thread & !active] The worker refused this node or never started: fail it now.

        The node leaves its worker for good (the link has already dropped it) and outputs
        its fallback for the rest of the run, as any failed node does.
        """
        self.link, self.run = None, None
        _live.discard(self)
        self.window.refuse(one_line(reason))

    def worker_spec(self) -> dict[str, Any]:
        """[any-thread] What the worker needs to host this node: stages, channels, state."""
        return {
            "label": self.label, "channels": self.channels, "states": self._good_states(),
            "stages": [
                {"source": s.source.decode("utf-8"), "filename": s.filename, "class": s.class_name,
                 "params": self.params[k], "ranges": s.ranges, "fallback": s.fallback,
                 "kind": s.kind, "loader": dict(s.loader)}
                for k, s in enumerate(self.stages)
            ],
        }  # fmt: skip

    def inherited_fds(self) -> tuple[int, ...]:
        """[any-thread] Descriptors the worker must inherit for this node (sealed libraries)."""
        return tuple(fd for stage in self.stages for fd in stage.fds)

    def take_latency(self, reported: object) -> None:
        """[main-thread & !active] Adopt the latency a worker measured for native stages.

        Native code reports its latency only once instantiated, which happens in the
        worker; Python stages keep the latency read from their source, which the host
        plans with before any worker runs (``aers graph`` starts none for them). A class
        whose run-time ``latency_samples`` differs from that literal (inherited, say)
        refuses the node: its audio would be misaligned against every parallel path. A
        reply that is not one int in ``[0, MAX_LATENCY]`` per stage is ignored (the worker
        is untrusted).
        """
        if not isinstance(reported, list) or len(reported) != len(self.stages):
            return
        if not all(type(v) is int and 0 <= v <= MAX_LATENCY for v in reported):
            return
        for value, stage in zip(reported, self.stages, strict=True):
            if stage.kind == "python" and value != stage.latency_samples:
                self.refuse(
                    f"{self.label}: plugin {stage.name!r} has latency_samples = {value} when "
                    f"run, but its class body declares {stage.latency_samples}; declare the "
                    "latency as a literal in the class itself (not inherited or computed)"
                )
                return
        self.latency_samples = sum(
            int(v) if stage.kind != "python" else stage.latency_samples
            for v, stage in zip(reported, self.stages, strict=True)
        )

    def close(self) -> None:
        """[main-thread & !processing] Leave the worker (the last node out stops it); idempotent."""
        if self.closed:
            return
        self.closed = True
        self._leave()

    def _leave(self) -> None:
        link, self.link, self.run = self.link, None, None
        if link is not None:
            link.leave(self)
        _live.discard(self)

    # ------------------------------------------------------------------ audio path
    def fallback(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Output the node's fallback for this block."""
        self.fallback_blocks += 1
        self.substitutions.note(start, out.shape[1])
        apply_fallback(self._fallback_mode, inp, out)

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] One block through the worker.

        Real time: within the deadline, else the fallback. Offline: waits (see the module
        docstring).
        """
        run = self.run
        if run is not None and run.step(self, inp, out, start, events):
            return
        link = self.link
        if not self.timing.realtime:
            if (
                link is None
                or self.window.failed
                or link.exchange(self, inp, start, events, b"", self.hang_limit_s) < 0
            ):
                return self.fallback(inp, out, start)
            return self.deliver(inp, out, link.reply[1], link.reply[2], start)
        worker = link.acquire() if link is not None else None
        if worker is None or link is None or self.window.failed:
            return self.fallback(inp, out, start)
        now = time.perf_counter()
        if link.settle(worker, now):
            self.xruns += 1
            return self.fallback(inp, out, start)
        assert link.segment is not None  # a worker implies a segment
        np.copyto(link.segment.io_views(self.instance, out.shape[1])[0], inp)
        deadline = now + self.options.deadline_s
        if link.ring(worker, self, out.shape[1], start, events, b"", deadline) <= 0:
            self.xruns += 1
            return self.fallback(inp, out, start)
        self.deliver(inp, out, link.reply[1], link.reply[2], start)

    def deliver(self, inp: Buffer, out: Buffer, errors: int, nans: int, start: int) -> None:
        """[audio-thread & processing] Copy this node's answered block out of shared memory.

        ``errors``/``nans`` are this node's stage bits of the reply: a stage that raised
        or produced NaN/Inf wrote its own fallback in the worker, so the block counts as
        substituted.
        """
        segment = self.link.segment if self.link is not None else None
        if segment is None:
            return self.fallback(inp, out, start)
        if errors:
            self.errors += 1
            raised = segment.read_error(self.instance) or "an exception"
            self.window.note(f"process() raised {raised}")
        dst = segment.io_views(self.instance, out.shape[1])[1]
        finite = all_finite(dst, self._zeros)
        if nans or not finite:
            self.nan_blocks += 1
        if not finite:
            return self.fallback(inp, out, start)
        if errors or nans:
            self.substitutions.note(start, out.shape[1])
        np.copyto(out, dst)

    # ------------------------------------------------------------------ state
    def _good_states(self) -> list[dict[str, Any]]:
        segment = self.link.segment if self.link is not None else None
        states = (
            (segment.read_states(self.instance) if segment is not None else None)
            or self._last_states
            or self._user_states
            or [{} for _ in self.stages]
        )
        return [
            {**state, "params": dict(params)}
            for state, params in zip(states, self.params, strict=True)
        ]

    def _control(self, kind: int, payload: object | None) -> dict[str, Any] | None:
        return self.link.control(self, kind, payload) if self.link is not None else None

    def get_state(self) -> dict[str, Any]:
        """[main-thread & !processing] The plugin's state (``{"stages": [...]}`` for chains)."""
        answer = self._control(proto.KIND_GET_STATE, None)
        if answer and answer.get("ok") and isinstance(answer.get("states"), list):
            self._last_states = answer["states"]
        states = self._last_states or self._good_states()
        return states[0] if len(self.stages) == 1 else {"stages": states}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore state now and after any restart."""
        states = state.get("stages") if len(self.stages) > 1 else [state]
        if not isinstance(states, list) or len(states) != len(self.stages):
            raise ValueError(f"state for {self.label} must hold {len(self.stages)} stage(s)")
        self._user_states = self._last_states = [dict(s) for s in states]
        for params, s in zip(self.params, states, strict=True):
            params.update(
                {k: float(v) for k, v in dict(s.get("params", {})).items() if k in params}
            )
        self._control(proto.KIND_SET_STATE, self._user_states)

    def reset(self) -> None:
        """[main-thread & !processing] Ask every plugin of the chain to reset."""
        self._control(proto.KIND_RESET, None)


@atexit.register
def _close_all() -> None:
    """No worker or segment outlives a host that exits normally (or by Ctrl-C)."""
    for processor in list(_live):
        processor.close()
