"""SandboxedProcessor: a Processor whose plugin code runs in a fenced worker process.

Invariants (the audio thread must never stall on a worker):

* ``process`` copies the input into shared memory, writes one doorbell (non-blocking) and
  waits for the reply at most ``deadline_s`` — spinning briefly, then ``select``. A late
  reply makes the block an xrun with the node's fallback; the reply's sequence number tells
  it apart from the next block's, and no new block is rung while one is still out.
* A dead worker (EOF on the reply pipe) or one whose block is out longer than
  ``hang_timeout_s`` is handed to the supervisor thread, which kills it and starts a new one
  with the last good state (the worker's periodic snapshot plus the host's parameter
  values). Until the new worker is adopted the node outputs its fallback.
* Failures (crash, hang, exception in plugin code) go through a :class:`FailureWindow`;
  ``max_failures`` within the window mark the node failed: fallback for the rest of the run.
* NaN/Inf in the output never leaves the node: the host screens every block it copies out.

Counters read by the metrics collector: ``xruns``, ``nan_blocks``, ``restarts``,
``errors``, ``fallback_blocks``, ``failed``, ``failure_reason``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import threading
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import Any, Final

import numpy as np

from .._processor import Buffer, ParamEvent
from ..errors import SandboxDegradedWarning, SandboxError
from . import _protocol as proto
from ._options import FailureWindow, NodeOptions, StageSpec
from ._runtime import all_finite, apply_fallback
from ._segment import Segment
from ._spawn import CONTROL_SEQ, WorkerProcess, supervisor

#: How long ``process`` polls for the reply (yielding the CPU between polls) before sleeping
#: in ``select``: a worker on another core answers a small block within this, and the yield
#: lets a worker woken on our own core run at once.
SPIN_S: Final = 50e-6
_live: weakref.WeakSet[SandboxedProcessor] = weakref.WeakSet()
_cleaned_up = False


class SandboxedProcessor:
    """[main-thread] A chain of one or more sandboxed plugins hosted by one worker."""

    def __init__(self, stages: Sequence[StageSpec], options: NodeOptions, label: str) -> None:
        if not stages:
            raise ValueError("a sandboxed processor needs at least one stage")
        self._stages = tuple(stages)
        self._opts = options
        self.label = label
        self.latency_samples = sum(s.latency_samples for s in stages)
        # A chain falls back as a whole: silence if any of its nodes asks for silence.
        self._fallback_mode = (
            "silence" if any(s.fallback == "silence" for s in stages) else "bypass"
        )
        self._window = FailureWindow(options.max_failures, options.failure_window_s)
        self.xruns = self.nan_blocks = self.restarts = self.errors = self.fallback_blocks = 0
        self.fences: dict[str, str] = {}
        self._params = [dict(s.params) for s in stages]
        self._index: dict[str, tuple[int, int]] = {}
        for k, stage in enumerate(stages):
            for i, name in enumerate(stage.ranges):
                self._index.setdefault(f"{k}:{name}", (k, i))
                if k == 0:
                    self._index[name] = (0, i)
        self._user_states: list[dict[str, Any]] | None = None
        self._last_states: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._segment: Segment | None = None
        self._worker: WorkerProcess | None = None
        self._ready: WorkerProcess | None = None
        self._poll = select.poll()
        self._seq = 0
        self._waiting = 0
        self._sent_at = 0.0
        self._reply = (0, 0, 0)
        self._doorbell = bytearray(proto.DOORBELL.size + proto.MAX_EVENTS * proto.EVENT.size)
        self._zeros = np.zeros(0, np.float32)
        self._shape = (0, 0, 0)

    # ------------------------------------------------------------------ counters
    @property
    def failed(self) -> bool:
        """[any-thread] True once the node is on fallback for good."""
        return self._window.failed

    @property
    def failure_reason(self) -> str:
        """[any-thread] Why the node failed (or the last failure seen), "" if none."""
        return self._window.reason

    # ------------------------------------------------------------------ lifecycle
    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Allocate the shared segment and start the worker.

        Raises:
            SandboxError: the worker could not start or refused the plugin (the message
                carries the worker's reason, e.g. the import that was refused).
        """
        global _cleaned_up
        self._release()
        self._closed = False
        if not _cleaned_up:
            proto.cleanup_stale_segments()
            _cleaned_up = True
        self._shape = (sample_rate, max_block, channels)
        self._segment = Segment(channels, max_block, len(self._stages))
        self._zeros = np.zeros(channels * max_block, np.float32)
        _live.add(self)
        config = self._config(self._user_states)
        future = supervisor().submit(
            WorkerProcess.start, config, self._segment.path, self._opts.start_timeout_s
        )
        try:
            worker = future.result()
        except SandboxError:
            self._release()
            raise
        self.fences = {str(k): str(v) for k, v in dict(worker.hello.get("fences", {})).items()}
        missing = sorted(k for k, v in self.fences.items() if not v.startswith("applied"))
        if missing:
            warnings.warn(
                f"{self.label}: sandbox fences unavailable here: {', '.join(missing)}",
                SandboxDegradedWarning,
                stacklevel=2,
            )
        self._adopt(worker)

    def _config(self, states: list[dict[str, Any]] | None) -> dict[str, Any]:
        sample_rate, max_block, channels = self._shape
        return {
            "sample_rate": sample_rate, "max_block": max_block, "channels": channels,
            "memory_mb": self._opts.memory_mb, "cpu_seconds": self._opts.cpu_seconds,
            "open_files": 16, "state_every_s": self._opts.state_every_s,
            "states": states,
            "stages": [
                {"source": s.source.decode("utf-8"), "filename": s.filename, "class": s.class_name,
                 "params": self._params[k], "ranges": s.ranges, "fallback": s.fallback}
                for k, s in enumerate(self._stages)
            ],
        }  # fmt: skip

    def _adopt(self, worker: WorkerProcess) -> None:
        self._poll = select.poll()
        self._poll.register(worker.reply_fd, select.POLLIN)
        self._waiting = 0
        self._worker = worker

    def close(self) -> None:
        """[main-thread & !processing] Stop the worker and free the segment; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._release()

    def _release(self) -> None:
        workers, self._worker, self._ready = (self._worker, self._ready), None, None
        for worker in workers:
            if worker is not None:
                worker.stop(0.5)
        if self._segment is not None:
            self._segment.release()
            self._segment = None
        _live.discard(self)

    # ------------------------------------------------------------------ audio path
    def _fallback(self, inp: Buffer, out: Buffer) -> None:
        self.fallback_blocks += 1
        apply_fallback(self._fallback_mode, inp, out)

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] One block through the worker, within the deadline."""
        worker = self._worker
        if worker is None and self._ready is not None and not self._window.failed:
            worker, self._ready = self._ready, None
            self._adopt(worker)
            self.restarts += 1
        if worker is not None and self._window.failed:
            self._retire(worker, restart=False)
            worker = None
        if worker is None:
            self._fallback(inp, out)
            return
        now = time.perf_counter()
        if self._waiting:  # the previous block is still out
            if self._collect(worker) < 0:
                return self._lost(worker, "worker died", inp, out)
            if self._waiting:
                self.xruns += 1
                if now - self._sent_at > self._opts.hang_timeout_s:
                    return self._lost(
                        worker, f"worker hung (no reply for {now - self._sent_at:.3f} s)", inp, out
                    )
                return self._fallback(inp, out)
        assert self._segment is not None  # a worker implies a segment
        src, dst = self._segment.io_views(out.shape[1])
        np.copyto(src, inp)
        size = self._encode(out.shape[1], start, events)
        try:
            written = self._write(worker, size)
        except OSError:
            return self._lost(worker, "worker died", inp, out)
        if not written:
            self.xruns += 1
            return self._fallback(inp, out)
        result = self._await(worker, now + self._opts.deadline_s)
        if result < 0:
            return self._lost(worker, "worker died", inp, out)
        if result == 0:
            self.xruns += 1
            return self._fallback(inp, out)
        _status, errors, nans = self._reply
        if errors:
            self.errors += 1
            self._window.note(f"process() raised {self._segment.read_error() or 'an exception'}")
        finite = all_finite(dst, self._zeros)
        if nans or not finite:
            self.nan_blocks += 1
        if not finite:
            return self._fallback(inp, out)
        np.copyto(out, dst)

    def _encode(self, frames: int, start: int, events: Sequence[ParamEvent]) -> int:
        size = proto.DOORBELL.size
        n = 0
        for event in events:
            where = self._index.get(event.param)
            if where is None or n >= proto.MAX_EVENTS:
                continue
            stage, index = where
            proto.EVENT.pack_into(
                self._doorbell, size, max(event.offset, 0), (stage << 16) | index, event.value
            )
            self._params[stage][event.param.rsplit(":", 1)[-1]] = float(event.value)
            size += proto.EVENT.size
            n += 1
        self._seq = self._seq % 0xFFFFFFFF + 1  # never CONTROL_SEQ
        proto.DOORBELL.pack_into(self._doorbell, 0, proto.KIND_BLOCK, self._seq, frames, start, n)
        return size

    def _write(self, worker: WorkerProcess, size: int) -> bool:
        try:
            os.write(worker.ctrl_fd, memoryview(self._doorbell)[:size])
        except BlockingIOError:
            return False
        self._waiting = self._seq
        self._sent_at = time.perf_counter()
        return True

    def _collect(self, worker: WorkerProcess) -> int:
        """Read every reply available now; -1 on EOF, else the number of bytes read."""
        try:
            data = os.read(worker.reply_fd, 4096)
        except BlockingIOError:
            return 0
        if not data:
            return -1
        usable = len(data) - len(data) % proto.REPLY.size
        for seq, status, errors, nans in proto.REPLY.iter_unpack(data[:usable]):
            if seq == self._waiting and seq != CONTROL_SEQ:
                self._waiting = 0
                self._reply = (status, errors, nans)
        return len(data)

    def _await(self, worker: WorkerProcess, deadline: float) -> int:
        """Wait for the current block's reply: 1 got it, 0 deadline passed, -1 worker died."""
        spin_until = time.perf_counter() + SPIN_S
        while True:
            if self._poll.poll(0) and self._collect(worker) < 0:
                return -1
            if not self._waiting:
                return 1
            now = time.perf_counter()
            if now >= deadline:
                return 0
            if now >= spin_until:
                select.select([worker.reply_fd], [], [], deadline - now)
            else:
                os.sched_yield()

    def _lost(self, worker: WorkerProcess, reason: str, inp: Buffer, out: Buffer) -> None:
        """[audio-thread] Drop a dead/hung worker; the supervisor kills and replaces it."""
        self.xruns += 1
        self._window.note(reason)
        self._fallback(inp, out)
        self._retire(worker, restart=True)

    def _retire(self, worker: WorkerProcess, *, restart: bool) -> None:
        """[any-thread] Stop using ``worker``; the supervisor kills (and maybe replaces) it.

        Submitting takes the pool's lock briefly; the audio thread never waits for the kill.
        """
        self._worker = None
        self._waiting = 0
        with contextlib.suppress(RuntimeError):  # interpreter shutting down: close() kills it
            if restart:
                supervisor().submit(self._restart, worker)
            else:
                supervisor().submit(worker.kill)

    def _restart(self, old: WorkerProcess) -> None:
        """[supervisor-thread] Kill ``old``; start a replacement unless failed or closed."""
        old.kill()
        segment = self._segment
        while self._wanted() and segment is not None:
            try:
                worker = WorkerProcess.start(
                    self._config(self._good_states()), segment.path, self._opts.start_timeout_s
                )
            except (SandboxError, OSError) as exc:
                if not self._wanted():
                    return
                self._window.note(f"restart failed: {exc}")
                time.sleep(0.05)
                continue
            self._publish(worker)
            return

    def _wanted(self) -> bool:
        """[any-thread] Whether a replacement worker is still wanted (not closed, not failed)."""
        return not self._closed and not self._window.failed

    def _publish(self, worker: WorkerProcess) -> None:
        """[supervisor-thread] Hand a started worker to the audio thread, unless closed."""
        with self._lock:
            if self._closed:
                worker.kill()
            else:
                self._ready = worker

    # ------------------------------------------------------------------ state
    def _good_states(self) -> list[dict[str, Any]]:
        states = (
            (self._segment.read_states(len(self._stages)) if self._segment else None)
            or self._last_states
            or self._user_states
            or [{} for _ in self._stages]
        )
        return [
            {**state, "params": dict(params)}
            for state, params in zip(states, self._params, strict=True)
        ]

    def _control(self, kind: int, payload: object | None) -> dict[str, Any] | None:
        worker = self._worker
        if worker is None or self._waiting or self._window.failed:
            return None
        try:
            return worker.request(proto.DOORBELL.pack(kind, CONTROL_SEQ, 0, 0, 0), payload, 2.0)
        except SandboxError as exc:
            # A half-read answer would desynchronise the reply pipe: replace the worker.
            self._window.note(f"state request failed: {exc}")
            self._retire(worker, restart=not self._window.failed)
            return None

    def get_state(self) -> dict[str, Any]:
        """[main-thread & !processing] The plugin's state (``{"stages": [...]}`` for chains)."""
        answer = self._control(proto.KIND_GET_STATE, None)
        if answer and answer.get("ok") and isinstance(answer.get("states"), list):
            self._last_states = answer["states"]
        states = self._last_states or self._good_states()
        return states[0] if len(self._stages) == 1 else {"stages": states}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore state now and after any restart."""
        states = state.get("stages") if len(self._stages) > 1 else [state]
        if not isinstance(states, list) or len(states) != len(self._stages):
            raise ValueError(f"state for {self.label} must hold {len(self._stages)} stage(s)")
        self._user_states = self._last_states = [dict(s) for s in states]
        for params, s in zip(self._params, states, strict=True):
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
