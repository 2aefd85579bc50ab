"""Channel-count inference over the graph, feedback loops included.

A node's output count follows from its input count (its type decides: most keep it,
``pan`` makes two). Inside a feedback loop a delay's only input may come from later in
the order, so inference runs to a fixed point: a node is resolved once any of its main
inputs is known, and at the end every main input of every node must agree.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

from ._nodetype import ChannelError
from ._topology import Edge

#: (node id, its input channel count or None) -> output channel count; may raise ChannelError.
OutputRule = Callable[[str, int | None], int]


class ChannelMismatch(Exception):
    """Inputs of ``node`` carry different channel counts; ``inputs`` names each."""

    def __init__(self, node: str, inputs: Sequence[tuple[str, int]]) -> None:
        self.node = node
        self.inputs = list(inputs)
        detail = ", ".join(f"{src} ({n} ch)" for src, n in self.inputs)
        super().__init__(f"channel-count mismatch at inputs of {node!r}: {detail}")


class NodeChannelError(Exception):
    """A node's type refused its input count (wraps the type's :class:`ChannelError`)."""

    def __init__(self, node: str, error: ChannelError) -> None:
        self.node = node
        self.error = error
        super().__init__(f"{node!r} {error.message}")


def infer_channels(
    order: Sequence[str],
    edges: Sequence[Edge],
    rule: OutputRule,
    problems: list[ChannelMismatch | NodeChannelError] | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Output and input channel counts of every node (sources have no input entry).

    Args:
        order: the nodes in processing order.
        edges: every connection.
        rule: a node's output count for its input count.
        problems: when given, every refusal is appended here instead of raised, and
            inference goes on around the refused node (nodes fed only through it are
            left out silently: their cause is already listed), so ``aers validate`` names
            every unconnected input, not just the first.

    Raises:
        ChannelMismatch: a node's main inputs disagree (without ``problems``).
        NodeChannelError: a node's type refuses its input count (without ``problems``).
    """
    inputs: dict[str, list[tuple[str, bool]]] = {n: [] for n in order}
    for edge in edges:
        if edge.port == "main":
            inputs[edge.dst].append((edge.src, edge.tap == "pre"))
    channels: dict[str, int] = {}
    #: Each resolved node's input count, which is what a pre-fader send carries.
    channels_in: dict[str, int] = {}
    refused: set[str] = set()

    def report(err: ChannelMismatch | NodeChannelError, node: str) -> None:
        if problems is None:
            raise err
        problems.append(err)
        refused.add(node)

    def width(src: str, pre: bool) -> int | None:
        return channels_in.get(src) if pre else channels.get(src)

    pending = collections.deque(order)
    stalled = 0  # nodes put back in a row: once all of them are, nothing can progress
    while pending and stalled < len(pending):
        node = pending.popleft()
        sources = inputs[node]
        known = [(s, n) for s, pre in sources if (n := width(s, pre)) is not None]
        if sources and not known:
            if all(s in refused for s, _ in sources):
                refused.add(node)  # fed only by refused nodes: already reported upstream
                stalled = 0
                continue
            pending.append(node)  # only fed from later in a loop: wait for it
            stalled += 1
            continue
        stalled = 0
        if len({n for _, n in known}) > 1:
            report(ChannelMismatch(node, known), node)
            continue
        try:
            channels[node] = rule(node, known[0][1] if known else None)
        except ChannelError as err:
            report(NodeChannelError(node, err), node)
            continue
        if known:
            channels_in[node] = known[0][1]
    for node in pending:  # a loop with no way in (one report per loop is enough)
        if not any(s in refused for s, _ in inputs[node]):
            error = ChannelError("is fed only by a feedback loop", "connect a source to the loop")
            report(NodeChannelError(node, error), node)
            break
    for node in order:
        if node in refused:
            continue
        known = [(s, n) for s, pre in inputs[node] if (n := width(s, pre)) is not None]
        if len({n for _, n in known}) > 1:
            report(ChannelMismatch(node, known), node)
    return channels, channels_in
