"""Solo as routing: which connections to cut so outputs only hear soloed paths.

Rule (documented in docs/feed.md): with a non-empty solo set S, let *up* be S and every
node that feeds a soloed node, and *down* be S and every node a soloed node feeds
(reachability over forward connections). A connection ``u → v`` is **cut** (gain 0) when
``u`` is not in *down* and ``v`` is not in *up*: its signal did not pass a soloed node and
is not on its way to one. A node is **audible** when it is in *up* or *down*. Everything
that reaches an output then passed through a soloed node, with two documented
exceptions: scene events injected downstream of a soloed node, and signal that enters
between two soloed nodes in series and leaves sideways.

Nodes are never muted by solo — their meters keep moving — only their connections to
the outputs are cut; the feed marks them ``audible: false``.

Example:
    >>> edges = [(0, 2, False), (1, 2, False), (2, 3, False)]   # a, b → bus → out
    >>> solo_routing(4, edges, {0})
    ({0, 2, 3}, {1})
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..graph import Plan

#: A connection as (source node index, destination node index, is a feedback edge).
EdgeRef = tuple[int, int, bool]


def _reach(start: Iterable[int], step: dict[int, list[int]]) -> set[int]:
    seen = set(start)
    stack = list(seen)
    while stack:
        for nxt in step.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def solo_routing(
    n_nodes: int, edges: Sequence[EdgeRef], soloed: set[int]
) -> tuple[set[int], set[int]]:
    """Audible nodes and indices (into ``edges``) of the connections to cut.

    Args:
        n_nodes: number of nodes (indices ``0 … n_nodes-1``).
        edges: every input connection; feedback edges follow the same cut rule but do not
            count for reachability (a loop would otherwise make everything up and down).
        soloed: indices of soloed nodes; empty means no solo (nothing cut, all audible).
    """
    if not soloed:
        return set(range(n_nodes)), set()
    forward: dict[int, list[int]] = {}
    backward: dict[int, list[int]] = {}
    for src, dst, back in edges:
        if not back:
            forward.setdefault(src, []).append(dst)
            backward.setdefault(dst, []).append(src)
    down = _reach(soloed, forward)
    up = _reach(soloed, backward)
    cut = {i for i, (src, dst, _) in enumerate(edges) if src not in down and dst not in up}
    return up | down, cut


class SoloRouter:
    """Applies :func:`solo_routing` to a plan by zeroing the gains of cut connections.

    Changes only edge gains and the engine's in-place read (``direct``, which would ignore
    a gain) between blocks; the original values are kept so clearing solo restores them.
    """

    def __init__(self, plan: Plan) -> None:
        """[main-thread] Remember every input connection with its original gain."""
        self.plan = plan
        self.edges: list[tuple[int, int, EdgeRef]] = [
            (ni, ei, (e.src, ni, e.back))
            for ni, n in enumerate(plan.nodes)
            for ei, e in enumerate(n.edges)
        ]
        self.gains = [[e.gain for e in n.edges] for n in plan.nodes]
        self.direct = [n.direct for n in plan.nodes]

    def apply(self, soloed: set[int]) -> set[int]:
        """[audio-thread, between blocks] Route for ``soloed``; return the audible nodes.

        The caller must tell the engine that routing changed (``Engine.invalidate``).
        """
        refs = [ref for _, _, ref in self.edges]
        audible, cut = solo_routing(len(self.plan.nodes), refs, soloed)
        for ni, node in enumerate(self.plan.nodes):
            node.direct = self.direct[ni]
        for k, (ni, ei, _) in enumerate(self.edges):
            node = self.plan.nodes[ni]
            node.edges[ei].gain = 0.0 if k in cut else self.gains[ni][ei]
            if k in cut:
                node.direct = -1  # the in-place read would ignore the edge's gain
        return audible
