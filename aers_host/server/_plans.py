"""What the live runtime keeps per running plan, built off the audio thread with the plan.

A live edit replaces the running plan (and its engine) at a block boundary. Everything the
runtime derives from a plan — parameter specs, level meters, the solo router, the config
automation to re-arm on rewind, the sinks to drain — lives in one :class:`PlanView`, built
by :meth:`PlanView.of` on the thread that prepares the edit and swapped in with the engine.
Readers on other threads take ``runtime.view`` once and use only that object, so a swap in
between can never pair one plan's indices with another plan's arrays.

Example:
    >>> view = PlanView.of(engine, registry)          # doctest: +SKIP
    >>> view.index_of("tone")                         # doctest: +SKIP
    0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._features import ReportsValues
from .._nodetype import NodeType
from .._processor import ParamSpec
from ..config import GraphConfig
from ..errors import GraphError
from ..graph import Engine, Plan, render_length
from ..live import LiveGraph
from ._levels import LevelMeters
from ._loudness import LoudnessMeters
from ._solo import SoloRouter


@dataclass(slots=True)
class PlanView:
    """A running plan with its engine and what the runtime derives from it."""

    engine: Engine
    specs: dict[str, dict[str, ParamSpec]]
    meters: LevelMeters
    loudness: LoudnessMeters
    router: SoloRouter
    automation: list[list[Any]]
    sinks: list[Any]
    #: The timing ring of :attr:`engine` has wrapped at least once.
    history_full: bool = False

    @classmethod
    def of(cls, engine: Engine, registry: Mapping[str, NodeType]) -> PlanView:
        """[main-thread] Derive everything for ``engine``'s plan (allocates; never audio)."""
        plan = engine.plan
        specs = {}
        for node in plan.nodes:
            node_type = registry.get(node.type_name)
            declared = node_type.param_specs() if node_type is not None else ()
            specs[node.id] = {s.name: s for s in declared}
        meters = LevelMeters.for_plan(plan)
        return cls(
            engine=engine,
            specs=specs,
            meters=meters,
            loudness=LoudnessMeters.for_plan(plan, meters.buffers),
            router=SoloRouter(plan),
            automation=[list(n.automation) for n in plan.nodes],
            sinks=[
                n.proc for n in plan.nodes if n.role == "sink" and hasattr(n.proc, "needs_drain")
            ],
        )

    @property
    def plan(self) -> Plan:
        """The plan of this view."""
        return self.engine.plan

    def param_values(self, node_id: str) -> dict[str, float]:
        """[any-thread] Current values of a node's declared params (defaults if unknown)."""
        proc = self.plan.node(node_id).proc
        specs = self.specs[node_id]
        if isinstance(proc, ReportsValues):
            values = proc.values
            return {k: float(values.get(k, s.default)) for k, s in specs.items()}
        return {k: s.default for k, s in specs.items()}

    def recorded_timings(self) -> tuple[np.ndarray, np.ndarray]:
        """[any-thread] Copies of (block_ns, node_ns) of the blocks recorded on this plan."""
        timings = self.engine.timings
        if timings is None:
            return np.zeros(0, np.int64), np.zeros((0, len(self.plan.nodes)), np.int64)
        count = len(timings.block_ns) if self.history_full else timings.count
        return timings.block_ns[:count].copy(), timings.node_ns[:count].copy()

    def forget_history(self) -> None:
        """[audio-thread] Drop the levels and block timings recorded so far (after warm-up)."""
        self.meters.take()
        self.history_full = False
        if self.engine.timings is not None:
            self.engine.timings.count = 0

    def rewind(self) -> None:
        """[audio-thread, between blocks] Back to sample 0 as a fresh render of the plan.

        Every processor is reset, compensation lines are cleared and config automation is
        re-armed; the engine rebuilds its per-block steps.
        """
        self.engine.position = 0
        for i, node in enumerate(self.plan.nodes):
            node.proc.reset()
            node.automation[:] = self.automation[i]
            for lane in node.lanes:
                lane.seek(0)  # config automation replays every pass
            for edge in node.edges:
                if edge.line is not None:
                    edge.line.fill(0.0)
                    edge.pos = 0
        self.engine.invalidate()

    def index_of(self, node_id: str) -> int | None:
        """Index of ``node_id`` in this plan (None when it has no such node)."""
        return self.plan.index.get(node_id)


def live_graph_for(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    *,
    crossfade_ms: float = 10.0,
    history_blocks: int = 8192,
) -> tuple[LiveGraph, Any, int | None]:
    """[main-thread] The editable graph of ``config`` with its scene and loop length.

    Returns:
        The graph (every engine with a timing ring and a :class:`PlanView`), the event
        scheduler (None without a scene) and the pass length (None: live sources).

    Raises:
        GraphError: the graph cannot be built.
        ConfigError: the scene's events are invalid.
    """
    from ..events import scheduler_for_config
    from ..graph._kernels import warm  # the crossfade kernel runs first at the first edit

    warm()  # loads (or compiles) the engine's kernels here, not on the audio thread
    scheduler = scheduler_for_config(config, registry)
    targets = scheduler.targets() if scheduler is not None else frozenset()
    live = LiveGraph(
        config,
        registry,
        crossfade_ms=crossfade_ms,
        events=scheduler,
        event_targets=targets,
        timing_rows=history_blocks,
        prepare=PlanView.of,
    )
    try:
        loop_frames: int | None = render_length(config, live.plan)
    except GraphError:
        loop_frames = None  # live sources and no duration: run forever
    return live, scheduler, loop_frames


def remap(indices: set[int], before: Plan, after: Plan) -> set[int]:
    """Node indices of ``before`` as indices of ``after`` (nodes that left are dropped)."""
    ids = (before.nodes[i].id for i in indices)
    return {after.index[n] for n in ids if n in after.index}
