"""Warnings about wiring that renders but wastes work: audio that reaches no output.

A node whose output (main or side-chain) never leads to an ``output`` node is computed
every block and thrown away; a source connected to nothing is usually a forgotten
connection. Neither stops a render, so they are warnings (``GraphConfig.warnings``), which
``aers validate`` prints beside the problems and exits 0 on.

Example:
    >>> from aers_host.config._model import ConnectionSpec, NodeSpec
    >>> class T:
    ...     def __init__(self, role): self.role = role
    >>> nodes = {n: NodeSpec(n, "x", {}) for n in ("a", "b", "out")}
    >>> types = {"a": T("source"), "b": T("source"), "out": T("sink")}
    >>> [w.message for w in unreached_warnings(nodes, types, [ConnectionSpec("a", "out")])]
    ["the output of source 'b' is connected to nothing"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from .._nodetype import Role
from ..errors import Problem
from ._model import ConnectionSpec, NodeSpec
from ._parse import ParsedDocument


class _HasRole(Protocol):
    @property
    def role(self) -> Role: ...


def unreached_warnings(
    nodes: Mapping[str, NodeSpec],
    types: Mapping[str, _HasRole],
    connections: Sequence[ConnectionSpec],
    doc: ParsedDocument | None = None,
) -> Iterator[Problem]:
    """[any-thread] One warning per node (known type, not a sink) whose audio reaches no sink.

    Args:
        nodes: the config's nodes.
        types: node id -> its type (nodes of unknown type are left out).
        connections: every connection whose ends exist.
        doc: the document, to locate each warning (file and line).
    """
    feeds: dict[str, list[str]] = {}
    for conn in connections:
        feeds.setdefault(conn.dst, []).append(conn.src)
    reached = {n for n, t in types.items() if t.role == "sink"}
    stack = list(reached)
    while stack:  # walk upstream from every sink
        for src in feeds.get(stack.pop(), ()):
            if src not in reached:
                reached.add(src)
                stack.append(src)
    connected = {conn.src for conn in connections}
    file = doc.file if doc is not None else ""
    for node_id in nodes:
        node_type = types.get(node_id)
        if node_type is None or node_id in reached:
            continue
        path = f"nodes.{node_id}"
        line = doc.line_of(path) if doc is not None else 0
        if node_id not in connected:
            what = f"source {node_id!r}" if node_type.role == "source" else f"{node_id!r}"
            yield Problem(
                file, line, path, f"the output of {what} is connected to nothing",
                "connect it towards an `output` node, or remove it",
            )  # fmt: skip
        else:
            yield Problem(
                file, line, path, f"the audio of {node_id!r} reaches no output node",
                "it is computed every block and discarded; connect its chain to an `output`",
            )  # fmt: skip
