"""WorkerLink: one worker process and its segment, shared by every node it hosts.

Each hosted node keeps its own :class:`~._host.SandboxedProcessor` (its counters, params,
state and fallback); the link is what they share. Invariants:

* At most one block is out per worker, whichever member rang it. A member that finds a
  block still out collects what has arrived; if it is still out the member takes its
  fallback (an xrun): the audio thread never waits for another member's late block.
* A dead or hung worker is blamed on the instance named by the segment's ``RUNNING`` slot,
  the *culprit*: its failure window counts the failure and its reason names it; every
  other member records "co-hosted with <culprit> which crashed" without it counting
  against them. A death while no plugin code ran has no culprit and counts for everyone.
* Until the supervisor thread has started a replacement every member outputs its fallback;
  the replacement restores each instance from its own last good state (the worker's
  periodic snapshot in that instance's region, plus the host's parameter values).
* A member that failed is never called again; the worker is retired once every member
  has failed or closed, and the segment is freed when the last member leaves.
* Restarts converge: a replacement that fails to start, to restore state or on its first
  block counts against ``max_failures`` however far apart those failures are.
* Offline (:meth:`WorkerLink.exchange`) a block is waited for up to the hang limit, never
  a deadline; a hang or crash replaces the worker and the block is sent once more.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .._processor import ParamEvent
from ..errors import SandboxDegradedWarning, SandboxError
from . import _protocol as proto
from ._refused import one_line
from ._segment import Segment
from ._spawn import CONTROL_SEQ, WorkerProcess, supervisor

if TYPE_CHECKING:
    from ._host import SandboxedProcessor

#: How long a member polls for the reply (yielding the CPU between polls) before sleeping
#: in ``select``: a worker on another core answers a small block within this, and the yield
#: lets a worker woken on our own core run at once.
SPIN_S: Final = 50e-6


class WorkerLink:
    """[main-thread] One worker hosting the plugin chains of one or more nodes.

    Args:
        sample_rate: the graph's rate.
        max_block: the largest block any member will process.
    """

    def __init__(self, sample_rate: int, max_block: int) -> None:
        self.sample_rate = sample_rate
        self.max_block = max_block
        self.members: list[SandboxedProcessor] = []
        #: Instance indices of members that left (closed or re-prepared elsewhere).
        self._gone: set[int] = set()
        self.segment: Segment | None = None
        self.worker: WorkerProcess | None = None
        self._ready: WorkerProcess | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._poll = select.poll()
        self._seq = 0
        self._waiting = 0
        self._sent_at = 0.0
        #: True until the current worker answers its first block (see FailureWindow.note).
        self._fresh = True
        #: Set whenever no restart is in progress (offline blocks wait on it).
        self._replaced = threading.Event()
        self._replaced.set()
        #: Kills and restarts handed to the supervisor, waited for by :meth:`close`.
        self._jobs: list[Future[Any]] = []
        #: (status, error mask, NaN mask) of the last block answered in time.
        self.reply = (0, 0, 0)
        #: Member index blamed for the last lost worker (-1: no plugin code was running).
        self.culprit = -1
        self._doorbell = bytearray(4096)

    # ------------------------------------------------------------------ membership
    def join(self, member: SandboxedProcessor) -> int:
        """[main-thread & !active] Add a member before the worker starts; return its index.

        Raises:
            RuntimeError: the worker has already started (instances are fixed then).
        """
        if self.segment is not None:
            raise RuntimeError("a worker's instances are fixed once it has started")
        self.members.append(member)
        return len(self.members) - 1

    def leave(self, member: SandboxedProcessor) -> None:
        """[main-thread & !processing] A member is done; the last one out stops the worker.

        Its instance stays in the worker (indices never move) but is never called again.
        """
        self._gone.add(member.instance)
        if len(self._gone) >= len(self.members):
            self.close()

    def active(self, index: int) -> bool:
        """[any-thread] Whether member ``index`` is still hosted here and healthy."""
        return index not in self._gone and not self.members[index].failed

    def wanted(self) -> bool:
        """[any-thread] Whether a worker is still needed: open, and a member still healthy."""
        return not self._closed and any(self.active(k) for k in range(len(self.members)))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """[main-thread & !active] Allocate the segment and start the worker.

        A worker that cannot start, or refuses a plugin (a refused import, a ``prepare``
        that raises or outlasts the start timeout), raises nothing here: the member whose
        plugin code was running then (every member, when none was) is refused — failed
        from the start with the worker's one-line reason, which names the node — and the
        worker is started again for the others. Each retry drops a member, so this ends.
        """
        while True:
            self._drop_gone()
            if not self.members:
                self.close()
                return
            self.segment = Segment(
                proto.Layout.of(self.max_block, [(m.channels, len(m.stages)) for m in self.members])
            )
            future = supervisor().submit(
                WorkerProcess.start,
                self.config(),
                self.segment.path,
                self._start_timeout(),
                self.inherited_fds(),
            )
            try:
                worker = future.result()
                break
            except SandboxError as exc:
                culprit = self.segment.running()  # read before close() frees the segment
                self.close()
                self._closed = False  # the others get a new worker
                refused = [culprit] if culprit >= 0 else list(range(len(self.members)))
                for k in refused:
                    self.members[k].refuse(str(exc))
                    self._gone.add(k)
        fences = {str(k): str(v) for k, v in dict(worker.hello.get("fences", {})).items()}
        latencies = worker.hello.get("latency")
        for k, member in enumerate(self.members):
            member.fences = dict(fences)
            if isinstance(latencies, list) and k < len(latencies):
                member.take_latency(latencies[k])
            if member.failed:  # refused for breaking its declared latency: never called
                self._gone.add(k)
        missing = sorted(k for k, v in fences.items() if not v.startswith("applied"))
        if missing:
            who = ", ".join(m.label for m in self.members)
            warnings.warn(
                f"{who}: sandbox fences unavailable here: {', '.join(missing)}",
                SandboxDegradedWarning,
                stacklevel=3,
            )
        self._adopt(worker)
        if len(self._gone) >= len(self.members):
            self.close()

    @property
    def latency_declared(self) -> bool:
        """[any-thread] Whether every member's latency is known without starting the worker.

        Python stages declare theirs as a literal in the class, read from the verified
        source (and held to it at start, see :meth:`~._host.SandboxedProcessor.take_latency`);
        native and LV2 stages report theirs only once instantiated in the worker.
        """
        return all(stage.kind == "python" for m in self.members for stage in m.stages)

    def _drop_gone(self) -> None:
        """[main-thread & !active] Forget members that left before the worker started."""
        if self._gone:
            self.members = [m for k, m in enumerate(self.members) if k not in self._gone]
            self._gone = set()
            for k, member in enumerate(self.members):
                member.instance = k

    def config(self) -> dict[str, Any]:
        """[any-thread] The worker's start-up document: limits, then one entry per member.

        A shared worker gets the sum of its members' memory and CPU allowances (it does
        their work), the longest start timeout and the most frequent state snapshots.
        """
        opts = [m.options for m in self.members]
        return {
            "sample_rate": self.sample_rate, "max_block": self.max_block,
            "memory_mb": sum(o.memory_mb for o in opts),
            "cpu_seconds": sum(o.cpu_seconds for o in opts),
            "open_files": 16, "state_every_s": min(m.state_every_s for m in self.members),
            "instances": [m.worker_spec() for m in self.members],
        }  # fmt: skip

    def inherited_fds(self) -> tuple[int, ...]:
        """[any-thread] Every descriptor the members' stages need in the worker, once each."""
        return tuple(sorted({fd for m in self.members for fd in m.inherited_fds()}))

    def _start_timeout(self) -> float:
        return max(m.options.start_timeout_s for m in self.members)

    def _adopt(self, worker: WorkerProcess) -> None:
        self._poll = select.poll()
        self._poll.register(worker.reply_fd, select.POLLIN)
        self._waiting = 0
        self._fresh = True
        self.worker = worker

    def close(self) -> None:
        """[main-thread & !processing] Stop the worker and free the segment; idempotent.

        Kills and restarts handed to the supervisor are waited for (a restart in progress
        sees the link closed and kills what it started), so no worker outlives the link.
        """
        with self._lock:
            self._closed = True
        workers, self.worker, self._ready = (self.worker, self._ready), None, None
        for worker in workers:
            if worker is not None:
                worker.stop(0.5)
        jobs, self._jobs = self._jobs, []
        bound = max((m.options.start_timeout_s for m in self.members), default=10.0) + 1.0
        for job in jobs:
            with contextlib.suppress(Exception):  # its outcome no longer matters, only its end
                job.result(bound)
        if self.segment is not None:
            self.segment.release()
            self.segment = None

    # ------------------------------------------------------------------ audio path
    @property
    def busy(self) -> bool:
        """[audio-thread] Whether a block is still out."""
        return self._waiting != 0

    def acquire(self) -> WorkerProcess | None:
        """[audio-thread & processing] The live worker (adopting a restarted one), or None."""
        worker = self.worker
        if worker is None and self._ready is not None and self.wanted():
            worker, self._ready = self._ready, None
            self._adopt(worker)
            for member in self.members:
                member.restarts += 1
        if worker is not None and not self.wanted():
            self.retire(worker, restart=False)
            return None
        return worker

    def settle(self, worker: WorkerProcess, now: float) -> int:
        """[audio-thread & processing] Deal with a block still out: 0 free, 1 busy, -1 lost."""
        if not self._waiting:
            return 0
        if self._collect(worker) < 0:
            self.lose(worker, "worker died", "crashed")
            return -1
        if not self._waiting:
            return 0
        if now - self._sent_at > max(m.options.hang_timeout_s for m in self.members):
            self.lose(worker, f"worker hung (no reply for {now - self._sent_at:.3f} s)", "hung")
            return -1
        return 1

    def ring(
        self,
        worker: WorkerProcess,
        member: SandboxedProcessor,
        frames: int,
        start: int,
        events: Sequence[ParamEvent],
        route: bytes,
        deadline: float,
    ) -> int:
        """[audio-thread & processing] Send one block and wait: 1 answered, 0 late, -1 lost.

        ``route`` is empty for a block of ``member`` alone, else the packed instances of a
        fused run (``member`` first). The answer's masks land in :attr:`reply`.
        """
        size = self._encode(member, frames, start, events, route)
        try:
            os.write(worker.ctrl_fd, memoryview(self._doorbell)[:size])
        except BlockingIOError:
            return 0
        except OSError:
            self.lose(worker, "worker died", "crashed")
            return -1
        self._waiting = self._seq
        self._sent_at = time.perf_counter()
        result = self._await(worker, deadline)
        if result < 0:
            self.lose(worker, "worker died", "crashed")
        return result

    def _encode(
        self,
        member: SandboxedProcessor,
        frames: int,
        start: int,
        events: Sequence[ParamEvent],
        route: bytes,
    ) -> int:
        size = proto.DOORBELL.size
        n = 0
        for event in events:
            where = member.param_index.get(event.param)
            if where is None or n >= proto.MAX_EVENTS:
                continue
            stage, index = where
            proto.EVENT.pack_into(
                self._doorbell, size, max(event.offset, 0), (stage << 16) | index, event.value
            )
            member.params[stage][event.param.rsplit(":", 1)[-1]] = float(event.value)
            size += proto.EVENT.size
            n += 1
        span = len(route) // proto.ROUTE.size
        self._doorbell[size : size + len(route)] = route
        self._seq = self._seq % 0xFFFFFFFF + 1  # never CONTROL_SEQ
        proto.DOORBELL.pack_into(
            self._doorbell, 0, proto.KIND_BLOCK, span, member.instance, self._seq, frames, start, n
        )
        return size + len(route)

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
                self.reply = (status, errors, nans)
                if self._fresh:
                    self._fresh = False
                    for member in self.members:
                        member.window.answered()
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

    def lose(self, worker: WorkerProcess, what: str, verb: str, *, final: bool = False) -> int:
        """[audio-thread] Blame the culprit, tell every member, and have the worker replaced.

        ``final`` (offline: the block's retry failed too) fails the culprit first, so no
        replacement is started for it.

        Returns:
            The culprit's member index, or -1 when no plugin code was running.
        """
        index = self.segment.running() if self.segment is not None else -1
        if index < 0 and len(self.members) == 1:
            index = 0
        fresh = self._fresh
        self.culprit = index
        if index < 0:
            for member in self.members:
                member.window.note(f"{what} (no plugin code was running)", fresh=fresh)
        else:
            culprit = self.members[index].label
            for k, member in enumerate(self.members):
                if k == index:
                    member.window.note(f"{what} while running {culprit}", fresh=fresh)
                else:
                    member.window.blame(f"co-hosted with {culprit} which {verb} ({what})")
        if final:
            self._fail_culprit(self.members[max(index, 0)])
        self.retire(worker, restart=self.wanted())
        return index

    # ------------------------------------------------------------------ offline audio path
    def exchange(
        self,
        member: SandboxedProcessor,
        inp: np.ndarray,
        start: int,
        events: Sequence[ParamEvent],
        route: bytes,
        limit: float,
    ) -> int:
        """[audio-thread & processing, offline] Run one block, waiting as long as it takes.

        Only a reply later than ``limit`` seconds (the hang limit) or a dead worker stops
        the wait: the worker is replaced, and the block is sent once more, with the same
        input, to the fresh worker (which starts from the state snapshot taken after the
        last block it answered). A second failure fails the culprit for the rest of the run.

        Returns:
            1: answered (masks in :attr:`reply`); -1: the block has no result.
        """
        frames = inp.shape[1]
        for retry in (False, True):
            worker = self._wait_worker()
            if worker is None or self.segment is None or member.failed:
                return -1
            if self._waiting and self._await(worker, time.perf_counter() + limit) <= 0:
                self.lose(worker, "worker did not finish an earlier block", "hung", final=retry)
                continue
            np.copyto(self.segment.io_views(member.instance, frames)[0], inp)
            result = self.ring(
                worker, member, frames, start, events, route, time.perf_counter() + limit
            )
            if result > 0:
                return 1
            if result == 0:
                what = f"hang in process at sample {start} (no reply in {limit:g} s)"
                self.lose(worker, what, "hung", final=retry)
            elif retry:  # the worker died again; ring() has already had it replaced
                self._fail_culprit(member)
        return -1

    def _fail_culprit(self, member: SandboxedProcessor) -> None:
        """[audio-thread, offline] A block failed on a fresh worker too: fail its culprit."""
        index = self.culprit
        failed = self.members[index] if 0 <= index < len(self.members) else member
        if not failed.failed:
            failed.window.fail(f"{failed.failure_reason}, and again on a fresh worker")

    def _wait_worker(self) -> WorkerProcess | None:
        """[audio-thread, offline] The live worker, after any restart in progress ends."""
        worker = self.acquire()
        if worker is None and self.wanted():
            opts = [m.options for m in self.members]
            bound = max(o.start_timeout_s for o in opts) * (max(o.max_failures for o in opts) + 1)
            self._replaced.wait(bound + 1.0)
            worker = self.acquire()
        return worker

    def retire(self, worker: WorkerProcess, *, restart: bool) -> None:
        """[any-thread] Stop using ``worker``; the supervisor kills (and maybe replaces) it.

        Submitting takes the pool's lock briefly; the audio thread never waits for the kill.
        """
        self.worker = None
        self._waiting = 0
        with contextlib.suppress(RuntimeError):  # interpreter shutting down: close() kills it
            self._jobs = [job for job in self._jobs if not job.done()]  # a few at most
            if restart:
                self._replaced.clear()
                self._jobs.append(supervisor().submit(self._restart, worker))
            else:
                self._jobs.append(supervisor().submit(worker.kill))

    def _restart(self, old: WorkerProcess) -> None:
        """[supervisor-thread] Kill ``old``; start a replacement while one is wanted.

        A replacement that fails to start (its ``prepare`` or ``set_state`` raises, hangs
        or crashes) is a failure of a fresh worker: it counts against the member whose code
        was running (every member, when none was) and is a restart of every member. After
        ``max_failures`` of them in a row the member is failed; once no member is healthy,
        no further worker is spawned.
        """
        try:
            old.kill()
            segment = self.segment
            while self.wanted() and segment is not None:
                try:
                    worker = WorkerProcess.start(
                        self.config(), segment.path, self._start_timeout(), self.inherited_fds()
                    )
                except (SandboxError, OSError) as exc:
                    if not self.wanted():
                        return
                    self._start_failed(segment.running(), one_line(str(exc)))
                    time.sleep(0.05)
                    continue
                with self._lock:
                    if self._closed:
                        worker.kill()
                    else:
                        self._ready = worker
                return
        finally:
            self._replaced.set()

    def _start_failed(self, index: int, why: str) -> None:
        """[supervisor-thread] A replacement worker did not start: count it (see _restart)."""
        if index < 0 and len(self.members) == 1:
            index = 0
        for k, member in enumerate(self.members):
            if not self.active(k):
                continue
            member.restarts += 1
            if index < 0 or k == index:
                member.window.note(f"restart failed: {why}", fresh=True)
            else:
                member.window.blame(f"restart failed: {why}")

    # ------------------------------------------------------------------ main-thread requests
    def control(
        self, member: SandboxedProcessor, kind: int, payload: object | None
    ) -> dict[str, Any] | None:
        """[main-thread & !processing] A state/reset request for ``member``'s instance."""
        worker = self.worker
        if worker is None or self._waiting or member.failed:
            return None
        header = proto.DOORBELL.pack(kind, 0, member.instance, CONTROL_SEQ, 0, 0, 0)
        try:
            return worker.request(header, payload, 2.0)
        except SandboxError as exc:
            # A half-read answer would desynchronise the reply pipe: replace the worker.
            member.window.note(f"state request failed: {exc}")
            self.retire(worker, restart=self.wanted())
            return None
