"""A running graph that accepts edits without dropouts.

Invariants:

* **Transactions.** :meth:`LiveGraph.submit` applies the operations to a copy of the
  config and validates it exactly like a file; an invalid edit raises ``ConfigError`` and
  nothing changes.
* **Off the audio thread.** New plans are built and prepared by the caller's thread. The
  audio thread only swaps a reference at a block boundary (:meth:`LiveGraph.process_block`)
  and reports the sample at which the edit took effect.
* **No clicks, no gaps.** The edit first runs as a *transition* plan: the union of the old
  and new graphs, where removed connections ramp to silence, added ones ramp in and changed
  gains glide, over ``crossfade_ms``. A replaced node runs beside its successor (the old
  one as ``ID--old``) while their outputs crossfade. Once the ramps end, the final plan —
  exactly the new config — takes over with the same processors.
* **State survives.** A node kept with the same type, parameters and channel layout keeps
  its processor object, so a delay tail keeps ringing and filters keep their memories.
  Numeric parameter changes on a kept node are applied as sample-accurate events instead
  of a rebuild.
* If the union of old and new is not a valid graph (reversing a connection would make a
  cycle for the length of the fade), the edit is refused with that reason: split it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._nodetype import NodeType
from .._processor import Processor
from ..config import GraphConfig, ParsedDocument, validate_config_data
from ..errors import ConfigError, GraphError
from ..graph import Engine, InputEdge, Plan, build_plan
from ._edits import apply_edits

OLD_SUFFIX = "--old"


@dataclass(slots=True)
class EditTicket:
    """The outcome of one edit: filled in by the audio thread when it takes effect."""

    ops: list[Mapping[str, Any]]
    who: str
    latency_before: int
    latency_after: int
    #: Absolute sample at which the edit took effect (set at the swap).
    sample: int = -1
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float | None = None) -> int:
        """Block until the edit is live; return its sample index (-1 on timeout)."""
        self.done.wait(timeout)
        return self.sample


_LinePairs = list[tuple[InputEdge, InputEdge]]


@dataclass(slots=True)
class _Swap:
    ticket: EditTicket
    transition: Engine
    final: Engine
    config: GraphConfig
    fade: int
    #: Samples the ramps wait for new processors to fill their latency.
    hold: int
    #: Compensation lines to carry over at each swap (old edge → new edge).
    into_transition: _LinePairs
    into_final: _LinePairs


class LiveGraph:
    """A graph processed block by block that can be edited while it runs.

    Args:
        config: the starting config.
        registry: node types.
        crossfade_ms: length of the fades around an edit.
    """

    def __init__(
        self, config: GraphConfig, registry: Mapping[str, NodeType], *, crossfade_ms: float = 10.0
    ) -> None:
        self.registry = registry
        self.config = config
        self.fade = max(1, round(crossfade_ms * config.sample_rate / 1000.0))
        self.engine = Engine(build_plan(config, registry))
        #: Applied edits: who, what, sample index, latency before/after.
        self.journal: list[dict[str, Any]] = []
        self._pending: _Swap | None = None
        self._final: tuple[Engine, int, _LinePairs] | None = None
        self._retired: list[Plan] = []
        self._lock = threading.Lock()  # serialises submitters, never taken by the audio thread

    @property
    def plan(self) -> Plan:
        """The plan running now."""
        return self.engine.plan

    # -- control side ---------------------------------------------------------------------

    def submit(self, ops: Any, *, who: str = "api") -> EditTicket:
        """[main-thread] Validate an edit and prepare it; it goes live at the next block.

        Raises:
            ConfigError: the edit is malformed or makes an invalid graph (nothing changes).
            GraphError: a new node cannot be prepared (nothing changes).
        """
        with self._lock:
            if self._pending is not None or self._final is not None:
                raise GraphError("the previous edit is still fading in; retry in a moment")
            old = self.config
            new_data = apply_edits(old.data, ops)
            doc = ParsedDocument(new_data, old.file)
            new = validate_config_data(doc, registry=self.registry, base_dir=old.base_dir)
            current = self.engine.plan
            transition, final = self._build(current, old, new)
            ticket = EditTicket(
                list(ops if isinstance(ops, list) else [ops]),
                who,
                current.total_latency,
                final.plan.total_latency,
            )
            self._pending = _Swap(
                ticket, transition, final, new, self.fade, transition.plan.ramp_hold,
                _line_pairs(current, transition.plan), _line_pairs(transition.plan, final.plan),
            )  # fmt: skip
            return ticket

    def _build(self, current: Plan, old: GraphConfig, new: GraphConfig) -> tuple[Engine, Engine]:
        """The final plan (the new config), then the transition plan that leads to it.

        The final plan is built first so the transition can reuse its new processors and
        know each new path's compensation; the transition keeps every old path on its old
        timing while it fades out and puts every new one on its new timing as it fades in.
        """
        kept = _kept_processors(current, old, new)
        final = build_plan(new, self.registry, reuse=kept)
        reuse = {n.id: n.proc for n in final.nodes}
        union, fades = _union(old, new, kept, current, final, reuse)
        try:
            union_config = validate_config_data(
                ParsedDocument(union, old.file), registry=self.registry, base_dir=old.base_dir
            )
        except ConfigError as err:
            raise GraphError(
                "old and new graph cannot crossfade (their union is invalid: "
                f"{err.problems[0].message}); split the edit into steps"
            ) from err
        transition = build_plan(
            union_config,
            self.registry,
            reuse=reuse,
            ramps={i: fade.ramp for i, fade in enumerate(fades) if fade.ramp is not None},
            ramp_samples=self.fade,
            compensation={i: fade.compensation for i, fade in enumerate(fades)},
            ramp_hold=_warmup(final, kept),
        )
        return Engine(transition), Engine(final)

    def collect(self) -> None:
        """[main-thread] Close processors of plans that are no longer running."""
        with self._lock:
            retired, self._retired = self._retired, []
        live = {id(n.proc) for n in self.engine.plan.nodes}
        if self._final is not None:
            live |= {id(n.proc) for n in self._final[0].plan.nodes}
        for plan in retired:
            for node in plan.nodes:
                close = getattr(node.proc, "close", None)
                if id(node.proc) not in live and callable(close):
                    close()

    def close(self) -> None:
        """Release every processor."""
        self.engine.plan.close()

    # -- audio side -----------------------------------------------------------------------

    def process_block(self, frames: int) -> int:
        """[audio-thread & processing] Process one block, swapping in a pending edit first."""
        swap = self._pending
        if swap is not None:
            self._pending = None
            self._install(swap.transition, swap.into_transition)
            end = self.engine.position + swap.hold + swap.fade
            self._final = (swap.final, end, swap.into_final)
            swap.ticket.sample = self.engine.position
            self.config = swap.config
            self.journal.append({
                "who": swap.ticket.who, "ops": swap.ticket.ops, "sample": swap.ticket.sample,
                "latency_before": swap.ticket.latency_before,
                "latency_after": swap.ticket.latency_after,
            })  # fmt: skip
            swap.ticket.done.set()
        elif self._final is not None and self.engine.position >= self._final[1]:
            self._install(self._final[0], self._final[2])
            self._final = None
        return self.engine.process_block(frames)

    def _install(self, engine: Engine, lines: _LinePairs) -> None:
        for old_edge, new_edge in lines:  # keep aligned paths' delayed audio
            new_edge.line[...] = old_edge.line  # type: ignore[index]
            new_edge.pos = old_edge.pos
        engine.position = self.engine.position
        self._retired.append(self.engine.plan)
        self.engine = engine


def _warmup(final: Plan, kept: Mapping[str, Processor]) -> int:
    """Samples until every new processor's output is valid (their latencies, chained).

    A new lookahead limiter outputs silence for its latency; fading it in from the swap
    would jump in part-way up the ramp, so every ramp of the edit waits this long.
    """
    warm: dict[str, int] = {}
    for node in final.nodes:
        ready = max((warm[final.nodes[e.src].id] for e in node.edges if not e.back), default=0)
        warm[node.id] = ready + (node.latency if node.id not in kept else 0)
    return max(warm.values(), default=0)


def _line_pairs(before: Plan, after: Plan) -> _LinePairs:
    """Compensation lines of the same input (node, source, tap, length) in both plans."""
    pairs: _LinePairs = []
    for node in after.nodes:
        if node.id not in before.index:
            continue
        old_node = before.node(node.id)
        for edge in node.edges:
            if edge.line is None:
                continue
            src = after.nodes[edge.src].id
            for old_edge in old_node.edges:
                same_src = before.nodes[old_edge.src].id == src and old_edge.pre == edge.pre
                if (
                    same_src
                    and old_edge.line is not None
                    and old_edge.line.shape == edge.line.shape
                ):
                    pairs.append((old_edge, edge))
                    break
    return pairs


def _same_node(old: GraphConfig, new: GraphConfig, node_id: str) -> bool:
    a, b = old.nodes.get(node_id), new.nodes.get(node_id)
    return a is not None and b is not None and a.type == b.type and a.options == b.options


def _kept_processors(current: Plan, old: GraphConfig, new: GraphConfig) -> dict[str, Processor]:
    """Processors that survive: same type, options and numeric-only param changes."""
    kept: dict[str, Processor] = {}
    for node in current.nodes:
        if not _same_node(old, new, node.id):
            continue
        before, after = old.nodes[node.id].params, new.nodes[node.id].params
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        numeric = all(isinstance(after.get(k), (int, float)) for k in changed)
        set_param = getattr(node.proc, "set_param", None)
        if changed and not (numeric and callable(set_param)):
            continue
        for name in changed:
            set_param(name, float(after[name]))  # type: ignore[misc]
        kept[node.id] = node.proc
    return kept


_Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class _Fade:
    """How one connection of a transition plan behaves: its ramp and its alignment."""

    ramp: tuple[float, float] | None
    compensation: int


def _key(conn: Mapping[str, Any]) -> _Key:
    return (conn["from"], conn["to"], conn.get("port", "main"), conn.get("tap", "post"))


def _lin(conn: Mapping[str, Any]) -> float:
    return float(10.0 ** (float(conn.get("gain_db", 0.0)) / 20.0))


def _compensation(plan: Plan, key: _Key) -> int:
    """The compensation delay of connection ``key`` in ``plan`` (0 if none or not found)."""
    src, dst, _port, tap = key
    if dst not in plan.index or src not in plan.index:
        return 0
    source = plan.index[src]
    for edge in plan.node(dst).edges:
        if edge.src == source and edge.pre == (tap == "pre") and not edge.back:
            return edge.compensation
    return 0


def _union(
    old: GraphConfig,
    new: GraphConfig,
    kept: Mapping[str, Processor],
    current: Plan,
    final: Plan,
    reuse: dict[str, Processor],
) -> tuple[dict[str, Any], list[_Fade]]:
    """The transition document and, per connection (in order), its fade.

    New connections fade in on their new timing, connections that go away fade out on
    their old timing, and a kept connection whose gain or alignment changes does both: its
    old copy fades out while the new one fades in. A replaced node keeps running as
    ``ID--old``; a removed node keeps its id until the final plan. ``reuse`` gains the
    outgoing processors.
    """
    nodes = {k: dict(v) for k, v in new.data["nodes"].items()}
    renamed: dict[str, str] = {}
    for node_id, spec in old.data["nodes"].items():
        if node_id in kept:
            continue
        target = node_id if node_id not in new.nodes else _old_name(node_id, nodes)
        renamed[node_id] = target
        nodes[target] = dict(spec)
        reuse[target] = current.node(node_id).proc
    replaced = {n for n, target in renamed.items() if target != n}
    old_conns = {_key(c): c for c in old.data.get("connections", [])}
    connections: list[dict[str, Any]] = []
    fades: list[_Fade] = []
    for conn in new.data.get("connections", []):
        key = _key(conn)
        comp_new = _compensation(final, key)
        connections.append(dict(conn))
        before = None if replaced & {key[0], key[1]} else old_conns.get(key)
        if before is None:
            fades.append(_Fade((0.0, _lin(conn)), comp_new))
            continue
        comp_old = _compensation(current, key)
        if _lin(before) == _lin(conn) and comp_old == comp_new:
            fades.append(_Fade(None, comp_new))
            continue
        fades.append(_Fade((0.0, _lin(conn)), comp_new))
        connections.append(dict(conn))  # the old copy fades out on its old timing
        fades.append(_Fade((_lin(before), 0.0), comp_old))
    new_keys = {_key(c) for c in new.data.get("connections", [])}
    for key, conn in old_conns.items():
        if key in new_keys and not replaced & {key[0], key[1]}:
            continue
        src, dst = renamed.get(key[0], key[0]), renamed.get(key[1], key[1])
        connections.append({**conn, "from": src, "to": dst})
        fades.append(_Fade((_lin(conn), 0.0), _compensation(current, key)))
    return {**new.data, "nodes": nodes, "connections": connections}, fades


def _old_name(node_id: str, taken: Mapping[str, Any]) -> str:
    """A free, valid id for the outgoing instance of a replaced node (``ID--old``)."""
    name = node_id[: 64 - len(OLD_SUFFIX) - 4] + OLD_SUFFIX
    while name in taken:
        name += "_"
    return name
