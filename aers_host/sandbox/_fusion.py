"""Fused runs: a linear stretch of graph nodes hosted by one worker, one round trip per block.

Every hop between sandboxed nodes costs a wake-up of a process on another core (~110 µs).
When consecutive nodes share a worker (``isolation: shared`` or ``per-plugin``) the planner
calls :func:`fuse_sandboxed_runs`, which finds each maximal run where every later node

* reads exactly one main input, the previous node's output, in place (unity gain, no
  compensation delay, no pre-fader tap: the planner's ``direct`` source),
* is not a feedback node, an event target or a side-chain reader, has no automation lanes,
* and the previous node's output feeds nothing else,

and binds a :class:`FusedRun` to its processors. The engine stays generic: the first node
(the *leader*) sends one doorbell whose route runs every node's instance in sequence in
the worker; each later node (a *follower*) then only copies its own instance's output out
of shared memory into its ``out`` buffer, so meters and taps still see every node.

Per block the leader fuses only when that is exact: no node of the run bypassed or muted,
no pending automation on a follower, every node healthy, and the engine's buffers are the
ones the run was bound to (a plan built later, e.g. a live edit's transition, rebinds; any
other plan sees the plain per-node path). Otherwise every node takes its own round trip.
A fused block that misses its deadline (the sum of the nodes' deadlines) or loses the
worker is an xrun with each node's fallback; the culprit is named as for any shared worker.
Offline, the leader waits for the fused block like any offline block (no deadline; hang
limit, restart and one retry).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, final

import numpy as np

from .._processor import Buffer, ParamEvent
from . import _protocol as proto
from ._host import SandboxedProcessor

if TYPE_CHECKING:
    from ._link import WorkerLink


class PlannedNode(Protocol):
    """What fusion reads of a planned node (``graph.NodeRuntime`` has all of it)."""

    proc: Any
    out_buf: Buffer
    direct: int
    edges: Any
    sidechain_edges: Any
    feedback: bool
    event_target: bool
    bypass: bool
    mute: bool
    automation: Any
    lanes: Any


@final
class FusedRun:
    """[main-thread] Consecutive nodes of one worker, run by their leader in one round trip.

    Args:
        members: the nodes' processors, in order; all hosted by the same worker.
        outs: each node's output buffer in the plan (identity-checked per block).
        plain: True when no node is bypassed, muted or has automation pending this block.
    """

    __slots__ = ("_masks", "_ok", "_plain", "_pos", "_route", "_shifts", "deadline_s",
                 "fired", "members", "outs")  # fmt: skip

    def __init__(
        self,
        members: Sequence[SandboxedProcessor],
        outs: Sequence[Buffer],
        plain: Callable[[], bool],
    ) -> None:
        self.members = tuple(members)
        self.outs = tuple(outs)
        self._plain = plain
        self._pos = {id(m): k for k, m in enumerate(self.members)}
        self._route = b"".join(proto.ROUTE.pack(m.instance) for m in self.members)
        shifts, total = [], 0
        for member in self.members:
            shifts.append(total)
            total += len(member.stages)
        self._shifts = tuple(shifts)
        #: The fused block's deadline: what the nodes would have waited one by one.
        self.deadline_s = sum(m.options.deadline_s for m in self.members)
        #: Start sample of the block the leader ran for everyone (-1: none pending).
        self.fired = -1
        self._ok = False
        self._masks = (0, 0)
        for member in self.members:
            member.run = self

    def step(
        self,
        member: SandboxedProcessor,
        inp: Buffer,
        out: Buffer,
        start: int,
        events: Sequence[ParamEvent],
    ) -> bool:
        """[audio-thread & processing] Handle ``member``'s block; False: process it alone."""
        k = self._pos.get(id(member), -1)
        if k == 0:
            return self._lead(member, inp, out, start, events)
        if k < 0 or self.fired != start or inp.base is not self.outs[k - 1]:
            return False
        if k == len(self.members) - 1:
            self.fired = -1
        if not self._ok:
            member.xruns += member.timing.realtime
            member.fallback(inp, out, start)
            return True
        errors, nans = self._bits(k)
        member.deliver(inp, out, errors, nans, start)
        return True

    def _ready(self, link: WorkerLink | None, out: Buffer) -> bool:
        return (
            link is not None
            and out.base is self.outs[0]
            and all(m.link is link and not m.failed for m in self.members)
            and self._plain()
        )

    def _lead(
        self,
        leader: SandboxedProcessor,
        inp: Buffer,
        out: Buffer,
        start: int,
        events: Sequence[ParamEvent],
    ) -> bool:
        self.fired = -1
        link = leader.link
        if not self._ready(link, out):
            return False
        assert link is not None
        if leader.timing.realtime:
            worker = link.acquire()
            if worker is None or link.busy or link.segment is None:
                return False  # the per-node path takes the fallback and counts it
            now = time.perf_counter()
            np.copyto(link.segment.io_views(leader.instance, out.shape[1])[0], inp)
            result = link.ring(
                worker, leader, out.shape[1], start, events, self._route, now + self.deadline_s
            )
        else:  # offline: wait up to the longest hang limit of the run, retry once
            limit = max(m.hang_limit_s for m in self.members)
            result = link.exchange(leader, inp, start, events, self._route, limit)
        self.fired = start
        self._ok = result > 0
        if not self._ok:
            leader.xruns += leader.timing.realtime
            leader.fallback(inp, out, start)
            return True
        self._masks = (link.reply[1], link.reply[2])
        errors, nans = self._bits(0)
        leader.deliver(inp, out, errors, nans, start)
        return True

    def _bits(self, k: int) -> tuple[int, int]:
        """This member's stage bits of the fused reply's error and NaN masks."""
        shift = self._shifts[k]
        mask = (1 << len(self.members[k].stages)) - 1
        return (self._masks[0] >> shift) & mask, (self._masks[1] >> shift) & mask


def fuse_sandboxed_runs(nodes: Sequence[PlannedNode]) -> list[FusedRun]:
    """[main-thread & !active] Bind a :class:`FusedRun` to each fusable run of ``nodes``.

    ``nodes`` is the plan in processing order. Earlier bindings of these processors are
    dropped first, so the plan built last decides. Returns the runs bound.
    """
    readers: dict[int, int] = {}
    for node in nodes:
        for edge in (*node.edges, *node.sidechain_edges):
            readers[edge.src] = readers.get(edge.src, 0) + 1
    for node in nodes:
        if isinstance(node.proc, SandboxedProcessor):
            node.proc.run = None
    tails: dict[int, list[int]] = {}  # index of a run's last node -> the run's indices
    for i, node in enumerate(nodes):
        proc = node.proc
        if not isinstance(proc, SandboxedProcessor) or proc.link is None:
            continue
        run = tails.pop(node.direct, None) if _can_follow(nodes, node, readers) else None
        if run is not None and _fits(nodes, run, proc):
            run.append(i)
        else:
            if run is not None:
                tails[run[-1]] = run  # put it back: it may still end there
            run = [i]
        tails[i] = run
    runs = []
    for run in tails.values():
        if len(run) > 1:
            members = [nodes[i] for i in run]
            runs.append(
                FusedRun(
                    [m.proc for m in members], [m.out_buf for m in members], _plain_check(members)
                )
            )
    return runs


def _can_follow(nodes: Sequence[PlannedNode], node: PlannedNode, readers: dict[int, int]) -> bool:
    """Whether ``node`` may run right after its direct source inside the worker."""
    src = node.direct
    return (
        src >= 0
        and readers.get(src, 0) == 1
        and not (node.feedback or node.event_target or node.lanes or node.sidechain_edges)
        and isinstance(nodes[src].proc, SandboxedProcessor)
    )


def _fits(nodes: Sequence[PlannedNode], run: list[int], proc: SandboxedProcessor) -> bool:
    """Whether ``proc`` shares the run's worker and the route stays within the wire limits."""
    first = nodes[run[0]].proc
    stages = sum(len(nodes[i].proc.stages) for i in run) + len(proc.stages)
    return (
        proc.link is first.link
        and len(run) < proto.MAX_SPAN
        and stages <= proto.MAX_SPAN_STAGES
        and proc.channels == first.channels
    )


def _plain_check(members: Sequence[PlannedNode]) -> Callable[[], bool]:
    """[audio-thread] The per-block test that fusing changes nothing for these nodes."""
    followers = tuple(members[1:])
    everyone = tuple(members)

    def plain() -> bool:
        return not any(n.bypass or n.mute for n in everyone) and not any(
            n.automation for n in followers
        )

    return plain
