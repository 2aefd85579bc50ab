"""Per-node timing accumulators between two feed snapshots, and the snapshot they make.

The audio thread folds every block into a :class:`Window` (preallocated arrays, no lock);
once per publish interval :func:`make_snapshot` turns the window and the level meters into
an immutable :class:`~._model.Snapshot` and a fresh window starts. A live edit that swaps
the plan resizes the window (:meth:`Window.resized`) but keeps its clocks, so CPU figures
stay continuous.

Example:
    >>> w = Window.empty(2)
    >>> w.fold(np.array([1000, 2000]), 3000); w.blocks
    1
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ._model import Snapshot

if TYPE_CHECKING:
    from ._plans import PlanView
    from ._runtime import LiveRuntime


@dataclass(slots=True)
class Window:
    """Accumulators between two snapshots (audio thread only)."""

    node_ns_sum: np.ndarray
    node_ns_max: np.ndarray
    block_ns_sum: int = 0
    block_ns_max: int = 0
    blocks: int = 0
    wall0: float = field(default_factory=time.perf_counter)
    thread0: float = 0.0
    process0: float = field(default_factory=time.process_time)

    @classmethod
    def empty(cls, nodes: int, **clocks: Any) -> Window:
        """A window for ``nodes`` nodes starting now (or at the given clocks)."""
        return cls(np.zeros(nodes), np.zeros(nodes), **clocks)

    def resized(self, nodes: int) -> Window:
        """[audio-thread, at a plan swap] Empty node columns for the new plan, same clocks."""
        return replace(self, node_ns_sum=np.zeros(nodes), node_ns_max=np.zeros(nodes))

    def fold(self, node_ns: np.ndarray, block_ns: int) -> None:
        """[audio-thread] Add one block's timings."""
        np.add(self.node_ns_sum, node_ns, out=self.node_ns_sum)
        np.maximum(self.node_ns_max, node_ns, out=self.node_ns_max)
        self.block_ns_sum += block_ns
        self.block_ns_max = max(self.block_ns_max, block_ns)
        self.blocks += 1


def make_snapshot(
    runtime: LiveRuntime, view: PlanView, window: Window, seq: int, start: int, block_ns: int
) -> tuple[Snapshot, Window]:
    """[audio-thread] The snapshot of ``window`` and the window that follows it."""
    now, thread, process = time.perf_counter(), time.thread_time(), time.process_time()
    wall = max(now - window.wall0, 1e-9)
    peak, rms = view.meters.take()
    blocks = max(window.blocks, 1)
    events = runtime.events
    in_flight = events.in_flight(start) if events is not None else 0
    nodes = view.plan.nodes
    snapshot = Snapshot(
        seq=seq,
        sample=start,
        loop=runtime.loop,
        blocks=window.blocks,
        peak=view.meters.split(peak),
        rms=view.meters.split(rms),
        node_us_mean=window.node_ns_sum / blocks / 1e3,
        node_us_max=window.node_ns_max / 1e3,
        block_us_last=block_ns / 1e3,
        block_us_mean=window.block_ns_sum / blocks / 1e3,
        block_us_max=window.block_ns_max / 1e3,
        engine_cpu=100.0 * (thread - window.thread0) / wall,
        process_cpu=100.0 * (process - window.process0) / wall,
        xruns=runtime.xruns,
        in_flight=int(in_flight),
        flags=tuple(runtime.flags(i, view) for i in range(len(nodes))),
        ids=tuple(n.id for n in nodes),
        loudness=dict(zip(view.loudness.nodes, view.loudness.take(), strict=True)),
    )
    return snapshot, Window.empty(len(nodes), wall0=now, thread0=thread)
