"""Graph structure: cycles, feedback edges and the processing order.

Feedback is legal only through a node whose type can close a loop (its traits declare a
``feedback_delay``; among the built-ins, ``delay``): inside every strongly connected
component, the edges *into* such nodes become feedback ("back") edges. The delay then
runs in two phases (read its past at its place in the order, write its input after the
block), which is exact as long as the delay is at least one block long. Any cycle left
once back edges are removed is refused and named ("a → b → a").

The order is Kahn's algorithm with ties broken by config order, so it is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._nodetype import NodeType


@dataclass(frozen=True, slots=True)
class Edge:
    """A connection between two nodes; ``index`` is its position in the config list."""

    src: str
    dst: str
    index: int
    port: str = "main"
    #: ``post`` reads the source's output; ``pre`` its input (a pre-fader send).
    tap: str = "post"


@dataclass(frozen=True, slots=True)
class Topology:
    """Processing order and the edges that carry feedback."""

    order: tuple[str, ...]
    back_edges: frozenset[int]
    feedback_nodes: frozenset[str]


class CycleError(Exception):
    """A cycle not broken by a delay node; ``cycle`` lists its nodes in order."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(" → ".join([*self.cycle, self.cycle[0]]))


def loop_closers(types: Mapping[str, NodeType]) -> set[str]:
    """The nodes (id → type) whose type can close a feedback loop: ``delay_nodes`` below."""
    return {node_id for node_id, t in types.items() if t.traits.feedback_delay is not None}


def plan_topology(nodes: Sequence[str], edges: Iterable[Edge], delay_nodes: set[str]) -> Topology:
    """Compute the order, treating edges into delays inside cycles as feedback.

    Raises:
        CycleError: for the first cycle (in config order) that has no delay on it.
    """
    edge_list = list(edges)
    component_of: dict[str, int] = {}
    cyclic: set[int] = set()
    self_loops = {e.src for e in edge_list if e.src == e.dst}
    for number, component in enumerate(_strongly_connected(nodes, edge_list)):
        for member in component:
            component_of[member] = number
        if len(component) > 1 or component[0] in self_loops:
            cyclic.add(number)
    back = {
        e.index
        for e in edge_list
        if e.dst in delay_nodes
        and component_of[e.src] == component_of[e.dst]
        and component_of[e.dst] in cyclic
    }
    forward = [e for e in edge_list if e.index not in back]
    order = _kahn(nodes, forward)
    if len(order) < len(nodes):
        ordered = set(order)
        raise CycleError(_find_cycle([n for n in nodes if n not in ordered], forward))
    feedback_nodes = frozenset(e.dst for e in edge_list if e.index in back)
    return Topology(tuple(order), frozenset(back), feedback_nodes)


def _kahn(nodes: Sequence[str], edges: Sequence[Edge]) -> list[str]:
    indegree = {n: 0 for n in nodes}
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        indegree[edge.dst] += 1
        successors[edge.src].append(edge.dst)
    rank = {n: i for i, n in enumerate(nodes)}
    ready = [rank[n] for n in nodes if indegree[n] == 0]
    heapq.heapify(ready)  # ties go to the node that comes first in the config
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for nxt in successors[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, rank[nxt])
    return order


def _find_cycle(candidates: Sequence[str], edges: Sequence[Edge]) -> list[str]:
    """One concrete cycle among nodes that Kahn could not order.

    Those nodes include everything downstream of a cycle, so the walk stays inside one
    strongly connected component: there every node has a successor in the component, and
    following first successors must come back to a node already on the path.
    """
    inside = set(candidates)
    inner = [e for e in edges if e.src in inside and e.dst in inside]
    looped = {e.src for e in inner if e.src == e.dst}
    component = next(
        c
        for c in _strongly_connected(candidates, inner)
        if len(c) > 1 or c[0] in looped
    )
    members = set(component)
    successors: dict[str, list[str]] = {n: [] for n in component}
    for edge in inner:
        if edge.src in members and edge.dst in members:
            successors[edge.src].append(edge.dst)
    rank = {n: i for i, n in enumerate(candidates)}
    start = min(component, key=rank.__getitem__)  # name the cycle from its first node
    path: list[str] = []
    on_path: dict[str, int] = {}
    node = start
    while node not in on_path:
        on_path[node] = len(path)
        path.append(node)
        node = successors[node][0]
    return path[on_path[node] :]


def _strongly_connected(nodes: Sequence[str], edges: Sequence[Edge]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (configs may be deep chains)."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in edges:
        successors[edge.src].append(edge.dst)
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_pos = work.pop()
            if child_pos == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors[node]
            if child_pos < len(children):
                work.append((node, child_pos + 1))
                child = children[child_pos]
                if child not in index_of:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components
