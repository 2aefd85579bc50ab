"""How a live edit crosses over: which processors survive, the transition graph, its fades.

The transition graph is the union of the old and new configs. New connections fade in on
their new timing, connections that go away fade out on their old timing, and a node that is
rebuilt (its type or options changed, or a plugin was reloaded) keeps running as ``ID--old``
beside its successor while their outputs crossfade.

Example:
    >>> old_name("dly", {"dly--old": {}})
    'dly--old_'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .._processor import Processor
from ..config import GraphConfig
from ..dsp._common import db_to_lin
from ..graph import InputEdge, Plan

OLD_SUFFIX = "--old"

LinePairs = list[tuple[InputEdge, InputEdge]]
#: A parameter change to apply to a kept processor when the edit goes live.
ParamChange = tuple[Processor, str, float]


def warmup(final: Plan, kept: Mapping[str, Processor]) -> int:
    """Samples until every new processor's output is valid (their latencies, chained).

    A new lookahead limiter outputs silence for its latency; fading it in from the swap
    would jump in part-way up the ramp, so every ramp of the edit waits this long.
    """
    warm: dict[str, int] = {}
    for node in final.nodes:
        ready = max((warm[final.nodes[e.src].id] for e in node.edges if not e.back), default=0)
        warm[node.id] = ready + (node.latency if node.id not in kept else 0)
    return max(warm.values(), default=0)


def line_pairs(before: Plan, after: Plan) -> LinePairs:
    """Compensation lines of the same input (node, source, tap, length) in both plans."""
    pairs: LinePairs = []
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


def kept_processors(
    current: Plan, old: GraphConfig, new: GraphConfig, rebuild: Collection[str] = ()
) -> tuple[dict[str, Processor], list[ParamChange]]:
    """Processors that survive, and the parameter changes to apply to them at the swap.

    A processor survives with the same type, options and numeric-only param changes. Its
    changes apply when the edit goes live, not before: until then the edit may still be
    refused, and the processor is still running the old graph. Nodes named in
    ``rebuild`` never survive (a reloaded plugin gets a new instance).
    """
    kept: dict[str, Processor] = {}
    changes: list[ParamChange] = []
    for node in current.nodes:
        if node.id in rebuild or not _same_node(old, new, node.id):
            continue
        before, after = old.nodes[node.id].params, new.nodes[node.id].params
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        numeric = all(isinstance(after.get(k), (int, float)) for k in changed)
        if changed and not (numeric and callable(getattr(node.proc, "set_param", None))):
            continue
        changes += [(node.proc, name, float(after[name])) for name in sorted(changed)]
        kept[node.id] = node.proc
    return kept, changes


_Key = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Fade:
    """How one connection of a transition plan behaves: its ramp and its alignment."""

    ramp: tuple[float, float] | None
    compensation: int


def _key(conn: Mapping[str, Any]) -> _Key:
    return (conn["from"], conn["to"], conn.get("port", "main"), conn.get("tap", "post"))


def _lin(conn: Mapping[str, Any]) -> float:
    """A connection's linear gain."""
    return db_to_lin(float(conn.get("gain_db", 0.0)))


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


def union(
    old: GraphConfig,
    new: GraphConfig,
    kept: Mapping[str, Processor],
    current: Plan,
    final: Plan,
    reuse: dict[str, Processor],
) -> tuple[dict[str, Any], list[Fade]]:
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
        target = node_id if node_id not in new.nodes else old_name(node_id, nodes)
        renamed[node_id] = target
        nodes[target] = dict(spec)
        reuse[target] = current.node(node_id).proc
    replaced = {n for n, target in renamed.items() if target != n}
    old_conns = {_key(c): c for c in old.data.get("connections", [])}
    connections: list[dict[str, Any]] = []
    fades: list[Fade] = []
    for conn in new.data.get("connections", []):
        key = _key(conn)
        comp_new = _compensation(final, key)
        connections.append(dict(conn))
        before = None if replaced & {key[0], key[1]} else old_conns.get(key)
        if before is None:
            fades.append(Fade((0.0, _lin(conn)), comp_new))
            continue
        comp_old = _compensation(current, key)
        if _lin(before) == _lin(conn) and comp_old == comp_new:
            fades.append(Fade(None, comp_new))
            continue
        fades.append(Fade((0.0, _lin(conn)), comp_new))
        connections.append(dict(conn))  # the old copy fades out on its old timing
        fades.append(Fade((_lin(before), 0.0), comp_old))
    new_keys = {_key(c) for c in new.data.get("connections", [])}
    for key, conn in old_conns.items():
        if key in new_keys and not replaced & {key[0], key[1]}:
            continue
        src, dst = renamed.get(key[0], key[0]), renamed.get(key[1], key[1])
        connections.append({**conn, "from": src, "to": dst})
        fades.append(Fade((_lin(conn), 0.0), _compensation(current, key)))
    return {**new.data, "nodes": nodes, "connections": connections}, fades


def old_name(node_id: str, taken: Mapping[str, Any]) -> str:
    """A free, valid id for the outgoing instance of a replaced node (``ID--old``)."""
    name = node_id[: 64 - len(OLD_SUFFIX) - 4] + OLD_SUFFIX
    while name in taken:
        name += "_"
    return name
