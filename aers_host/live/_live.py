"""A running graph that accepts edits without dropouts.

Invariants:

* **Transactions.** :meth:`LiveGraph.submit` applies the operations to a copy of the
  config and validates it exactly like a file; an invalid edit raises ``ConfigError`` and
  nothing changes (not even a parameter of a kept processor: those are applied at the swap).
* **Off the audio thread.** New plans are built and prepared by the caller's thread. The
  audio thread only swaps references at a block boundary (:meth:`LiveGraph.advance`, called
  by :meth:`LiveGraph.process_block`) and reports the sample at which the edit took effect.
  Submitters serialise on a lock the audio thread never takes.
* **No clicks, no gaps.** The edit first runs as a *transition* plan: the union of the old
  and new graphs, where removed connections ramp to silence, added ones ramp in and changed
  gains glide, over ``crossfade_ms``. A replaced node runs beside its successor (the old
  one as ``ID--old``) while their outputs crossfade. Once the ramps end, the final plan —
  exactly the new config — takes over with the same processors.
* **State survives.** A node kept with the same type, parameters and channel layout keeps
  its processor object, so a delay tail keeps ringing and filters keep their memories.
  Numeric parameter changes on a kept node are applied as ``set_param`` at the swap.
  Runtime flags (bypass, mute) of surviving nodes are carried over at every swap.
* **Plugin reload.** :meth:`LiveGraph.replace_type` rebuilds every node of one type with a
  new node type under the same id; at the swap the new processor receives the old one's
  state when both report the same ``state_version`` (see :func:`state_version`).
* If the union of old and new is not a valid graph (reversing a connection would make a
  cycle for the length of the fade), the edit is refused with that reason: split it.

Example:
    >>> live = LiveGraph(cfg, registry, crossfade_ms=5)           # doctest: +SKIP
    >>> ticket = live.submit({"op": "connect", "from": "a", "to": "bus"})  # doctest: +SKIP
    >>> live.process_block(512); ticket.sample                     # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections import ChainMap
from collections.abc import Collection, Mapping
from typing import Any

from .._features import close_if_held, health_of
from .._nodetype import NodeType
from .._processor import Processor
from ..config import GraphConfig, ParsedDocument, validate_config_data
from ..errors import ConfigError, GraphError
from ..graph import BlockTimings, Engine, EventSource, Plan, build_plan
from ..graph._branches import split_levels
from ..graph._engine import LanePrograms
from ..graph._pool import LanePool
from ._edits import apply_edits
from ._reload import hand_over, state_version
from ._ticket import EditTicket, JournalEntry, Prepare, Stage, Swap
from ._transition import (
    OLD_SUFFIX,
    kept_processors,
    line_pairs,
    union,
    warmup,
)


class LiveGraph:
    """A graph processed block by block that can be edited while it runs.

    Args:
        config: the starting config.
        registry: node types.
        crossfade_ms: length of the fades around an edit.
        events: the event scheduler every engine mixes from (None: no scene).
        event_targets: nodes that receive scene events.
        timing_rows: when > 0, every engine records per-block timings in a ring of this
            many blocks (a fresh one per plan: node columns differ between plans).
        prepare: per-engine companion builder (see :data:`Prepare`).
    """

    def __init__(
        self,
        config: GraphConfig,
        registry: Mapping[str, NodeType],
        *,
        crossfade_ms: float = 10.0,
        events: EventSource | None = None,
        event_targets: frozenset[str] = frozenset(),
        timing_rows: int = 0,
        prepare: Prepare | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        #: The config the journal starts from (undo replays the journal on it).
        self.origin = config
        self.fade = max(1, round(crossfade_ms * config.sample_rate / 1000.0))
        self.events = events
        self.event_targets = event_targets
        self.timing_rows = timing_rows
        self._prepare = prepare
        #: Most threads per block (the config's ``threads``; None = auto), and the workers
        #: every engine of this graph shares, made when the first plan needs them.
        self.threads = config.threads
        self._pool: LanePool | None = None
        self._spent_pools: list[LanePool] = []
        self.engine = self._engine(
            build_plan(config, registry, event_targets=event_targets), lane_programs="compile"
        )
        #: The companion of :attr:`engine` (what ``prepare`` returned; None without one).
        self.extra: Any = prepare(self.engine, registry) if prepare is not None else None
        #: Applied edits: who, what, sample index, latency before/after.
        self.journal: list[JournalEntry] = []
        self._pending: Swap | None = None
        #: The final stage of the edit fading in, and the sample span of its fade.
        self._final: tuple[Stage, int, int] | None = None
        self._retired: list[Plan] = []
        #: Engines the audio thread swapped out; their lane-program threads stop in
        #: :meth:`collect` (main thread), not on the audio thread.
        self._retired_engines: list[Engine] = []
        self._held: dict[int, Processor] = {}
        self._lock = threading.Lock()  # serialises submitters, never taken by the audio thread

    @property
    def plan(self) -> Plan:
        """[any-thread] The plan running now."""
        return self.engine.plan

    @property
    def settled(self) -> bool:
        """[any-thread] True when no edit is waiting or fading in."""
        return self._pending is None and self._final is None

    def _engine(
        self, plan: Plan, start: int = 0, *, lane_programs: LanePrograms = "cached"
    ) -> Engine:
        """[main-thread] An engine for ``plan``, on the graph's shared workers if it uses any.

        Its workers run compiled lane programs only when this process has them already
        (``cached``): an edit's engine is made while audio plays, and compiling holds
        the GIL for seconds. The first engine, made before audio starts, may compile.
        """
        timings = (
            BlockTimings.allocate(self.timing_rows, len(plan.nodes)) if self.timing_rows else None
        )
        schedule = split_levels(plan, self.threads)
        if schedule.parallel and (self._pool is None or self._pool.workers < schedule.threads - 1):
            if self._pool is not None:  # a wider plan: the running engine keeps the old pool
                self._spent_pools.append(self._pool)
            self._pool = LanePool(schedule.threads - 1)
        return Engine(
            plan,
            events=self.events,
            timings=timings,
            start=start,
            threads=self.threads,
            pool=self._pool if schedule.parallel else None,
            lane_programs=lane_programs,
        )

    # -- control side ---------------------------------------------------------------------

    def submit(self, ops: Any, *, who: str = "api", wait: float = 0.0) -> EditTicket:
        """[main-thread] Validate an edit and prepare it; it goes live at the next block.

        Args:
            ops: one operation or a list (see :mod:`aers_host.live._edits`).
            who: recorded in the journal.
            wait: seconds to wait for a previous edit to finish fading in.

        Raises:
            ConfigError: the edit is malformed or makes an invalid graph (nothing changes).
            GraphError: a new node cannot be prepared, the union cannot crossfade or the
                previous edit is still fading in (nothing changes).
        """
        with self._lock:
            self._await_settled(wait)
            old = self.config
            new = _validate(apply_edits(old.data, ops), old, self.registry)
            ops_list = list(ops if isinstance(ops, list) else [ops])
            return self._prepare_swap(ops_list, who, old, new, self.registry)

    def replace_type(
        self,
        type_name: str,
        node_type: NodeType,
        *,
        who: str = "reload",
        ops: list[Mapping[str, Any]] | None = None,
        reuse: Mapping[str, Processor] | None = None,
        wait: float = 0.0,
    ) -> EditTicket | None:
        """[main-thread] Rebuild every node of ``type_name`` as ``node_type`` (plugin reload).

        The config does not change (a plugin's node type is its name); the registry does.
        Each node keeps its id; its new processor gets the old one's state at the swap
        when both report the same :func:`state_version`. ``reuse`` supplies processors
        instead of creating new ones (a rollback restores the old instances this way).

        Returns:
            The ticket, or None when no node has that type (only the registry changed).

        Raises:
            ConfigError: the config does not validate with the new type (its params).
            GraphError: a new processor cannot be prepared, or an edit is still fading in.
        """
        with self._lock:
            self._await_settled(wait)
            registry: Mapping[str, NodeType] = ChainMap({type_name: node_type}, dict(self.registry))
            old = self.config
            new = _validate(dict(old.data), old, registry)
            ids = sorted(n for n, spec in old.nodes.items() if spec.type == type_name)
            if not ids:
                self.registry = registry
                return None
            what = ops or [{"op": "reload_plugin", "type": type_name, "nodes": ids}]
            return self._prepare_swap(what, who, old, new, registry, ids, reuse or {})

    def _await_settled(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while not self.settled:
            if time.monotonic() >= deadline:
                raise GraphError("the previous edit is still fading in; retry in a moment")
            time.sleep(0.001)

    def _prepare_swap(
        self,
        ops: list[Mapping[str, Any]],
        who: str,
        old: GraphConfig,
        new: GraphConfig,
        registry: Mapping[str, NodeType],
        rebuild: Collection[str] = (),
        reuse: Mapping[str, Processor] | None = None,
    ) -> EditTicket:
        current = self.engine.plan
        kept, params = kept_processors(current, old, new, rebuild)
        given = dict(reuse or {})
        final = build_plan(
            new, registry, event_targets=self.event_targets, reuse={**kept, **given}, fuse=False
        )
        try:
            transition, renamed = self._transition(current, old, new, kept, final, registry)
            handover = [
                (n, current.node(n).proc, final.node(n).proc, state_version(final.node(n).proc))
                for n in rebuild
                if n not in given
            ]
            survivors = {**{n: n for n in kept}, **{t: o for t, o in renamed.items()}}
            stage_t = self._stage(transition, current, survivors, registry)
            stage_f = self._stage(final, transition, {n: n for n in final.index}, registry)
        except BaseException:  # refused: close what this edit created, nothing else
            spare = {id(n.proc) for n in current.nodes} | {id(p) for p in given.values()}
            _close_once([final], spare)
            raise
        ticket = EditTicket(ops, who, current.total_latency, final.total_latency)
        ticket.nodes = {n: final.node(n).proc for n in rebuild if n not in given}
        ticket.baseline = {n: health_of(p) for n, p in ticket.nodes.items()}
        self._pending = Swap(
            ticket, stage_t, stage_f, new, registry, transition.ramp_hold, params, handover
        )
        return ticket

    def _transition(
        self,
        current: Plan,
        old: GraphConfig,
        new: GraphConfig,
        kept: Mapping[str, Processor],
        final: Plan,
        registry: Mapping[str, NodeType],
    ) -> tuple[Plan, dict[str, str]]:
        """The transition plan that leads to ``final``, and its renamed outgoing nodes.

        The final plan is built first so the transition can reuse its new processors and
        know each new path's compensation; the transition keeps every old path on its old
        timing while it fades out and puts every new one on its new timing as it fades in.
        """
        reuse = {n.id: n.proc for n in final.nodes}
        doc, fades = union(old, new, kept, current, final, reuse)
        renamed = {t: t.split(OLD_SUFFIX)[0] for t in doc["nodes"] if t not in new.nodes}
        try:
            union_config = _validate(doc, old, registry)
        except ConfigError as err:
            raise GraphError(
                "old and new graph cannot crossfade (their union is invalid: "
                f"{err.problems[0].message}); split the edit into steps"
            ) from err
        plan = build_plan(
            union_config,
            registry,
            event_targets=self.event_targets,
            reuse=reuse,
            ramps={i: fade.ramp for i, fade in enumerate(fades) if fade.ramp is not None},
            ramp_samples=self.fade,
            compensation={i: fade.compensation for i, fade in enumerate(fades)},
            ramp_hold=warmup(final, kept),
            fuse=False,  # see build_plan: fused runs of the running plan stay bound
        )
        return plan, renamed

    def _stage(
        self,
        plan: Plan,
        before: Plan,
        survivors: Mapping[str, str],
        registry: Mapping[str, NodeType],
    ) -> Stage:
        engine = self._engine(plan)
        carry = [
            (plan.index[new_id], before.index[old_id])
            for new_id, old_id in survivors.items()
            if new_id in plan.index and old_id in before.index
        ]
        extra = self._prepare(engine, registry) if self._prepare is not None else None
        return Stage(engine, extra, line_pairs(before, plan), carry)

    def hold(self, procs: Collection[Processor]) -> None:
        """[main-thread] Keep these processors open through :meth:`collect` (a probation)."""
        self._held.update({id(p): p for p in procs})

    def release(self) -> None:
        """[main-thread] End a probation: held processors may be closed by :meth:`collect`."""
        self._held.clear()

    def collect(self) -> None:
        """[main-thread] Close processors of plans that are no longer running.

        Does nothing while an edit is pending or fading in (the audio thread may still
        retire a plan then); held processors stay open until :meth:`release`.
        """
        with self._lock:
            if not self.settled:
                return
            retired, self._retired = self._retired, []
            engines, self._retired_engines = self._retired_engines, []
            for engine in engines:
                engine.close()
            live = {id(n.proc) for n in self.engine.plan.nodes} | set(self._held)
            keep = [p for p in retired if any(id(n.proc) in self._held for n in p.nodes)]
            _close_once([p for p in retired if p not in keep], live)
            self._retired = keep

    def _upcoming(self) -> list[Stage]:
        swap, final = self._pending, self._final
        stages = [swap.transition, swap.final] if swap is not None else []
        return stages + ([final[0]] if final is not None else [])

    def close(self) -> None:
        """[main-thread & !processing] Release every processor, running or retired, once."""
        engines = [*self._retired_engines, *(s.engine for s in self._upcoming()), self.engine]
        for engine in engines:
            engine.close()
        plans = [*self._retired, *(s.engine.plan for s in self._upcoming()), self.engine.plan]
        self._retired, self._pending, self._final = [], None, None
        self._retired_engines = []
        _close_once(plans, set())
        for pool in (*self._spent_pools, *([self._pool] if self._pool is not None else [])):
            pool.close()
        self._spent_pools, self._pool = [], None

    # -- audio side -----------------------------------------------------------------------

    def advance(self) -> bool:
        """[audio-thread, between blocks] Put a pending edit (or the end of its fade) live.

        Returns:
            True when the running engine changed (callers re-resolve node references).
        """
        swap = self._pending
        if swap is not None:
            self._pending = None
            self._go_live(swap)
            return True
        final = self._final
        position = self.engine.position
        if final is not None and not final[1] <= position < final[2]:  # done, or rewound
            self._install(final[0])
            self._final = None
            return True
        return False

    def process_block(self, frames: int) -> int:
        """[audio-thread & processing] Process one block, swapping in a pending edit first."""
        self.advance()
        return self.engine.process_block(frames)

    def _go_live(self, swap: Swap) -> None:
        ticket = swap.ticket
        for node_id, old, new, version in swap.handover:
            ticket.handover[node_id] = hand_over(old, new, version)
        for proc, name, value in swap.params:
            proc.set_param(name, value)  # type: ignore[attr-defined]
        self._install(swap.transition)
        begin = self.engine.position
        self._final = (swap.final, begin, begin + swap.hold + self.fade)
        ticket.sample = self.engine.position
        self.config, self.registry = swap.config, swap.registry
        self.journal.append({
            "who": ticket.who, "ops": ticket.ops, "sample": ticket.sample,
            "latency_before": ticket.latency_before, "latency_after": ticket.latency_after,
        })  # fmt: skip
        ticket.done.set()

    def _install(self, stage: Stage) -> None:
        for old_edge, new_edge in stage.lines:  # keep aligned paths' delayed audio
            new_edge.line[...] = old_edge.line  # type: ignore[index]
            new_edge.pos = old_edge.pos
        before, plan = self.engine.plan.nodes, stage.engine.plan.nodes
        for new_index, old_index in stage.carry:  # runtime flags survive with the node
            node, was = plan[new_index], before[old_index]
            node.mute = was.mute
            if node.channels_in == node.channels_out and node.role == "processor":
                node.bypass = was.bypass
        stage.engine.position = self.engine.position
        stage.engine.invalidate()
        self._retired.append(self.engine.plan)
        self._retired_engines.append(self.engine)
        self.engine, self.extra = stage.engine, stage.extra


def _validate(
    data: Mapping[str, Any], old: GraphConfig, registry: Mapping[str, NodeType]
) -> GraphConfig:
    doc = ParsedDocument(dict(data), old.file)
    return validate_config_data(doc, registry=registry, base_dir=old.base_dir)


def _close_once(plans: list[Plan], spare: set[int]) -> None:
    """Close every processor of ``plans`` once, except those whose id is in ``spare``."""
    seen = set(spare)
    for plan in plans:
        for node in plan.nodes:
            if id(node.proc) not in seen:
                close_if_held(node.proc)
            seen.add(id(node.proc))
