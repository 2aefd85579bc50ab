"""Undo of live edits: the journal replayed to the config before the last edit, as ops.

The journal (``GET /api/edits``) holds every applied edit's operations. Replaying them on
the config the server started with gives the config after each edit; an undo is an
ordinary edit — validated, crossfaded, journalled with ``who: "undo"`` — whose operations
turn the current config back into the one before the last edit that is not yet undone.
Undoing again goes one edit further back (a journalled undo pops its edit, like an undo
stack). Plugin reloads and rollbacks do not change the config and are skipped.

Example:
    >>> before = {"nodes": {"a": {"type": "sine"}}, "connections": []}
    >>> after = {"nodes": {"a": {"type": "sine"}, "v": {"type": "reverb"}},
    ...          "connections": [{"from": "a", "to": "v"}]}
    >>> [op["op"] for op in diff_ops(after, before)]
    ['disconnect', 'remove_node']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..live._edits import OP_SCHEMAS, apply_edits

#: Journal author of an undo (reserved: no client may claim it).
UNDO_AUTHOR = "undo"

Doc = Mapping[str, Any]


class NothingToUndo(Exception):
    """The journal holds no edit that an undo could revert."""


def undo_ops(origin: Doc, journal: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The operations that revert the last edit of ``journal`` not yet undone.

    Args:
        origin: the config document the journal starts from.
        journal: the applied edits, oldest first (``who`` and ``ops`` of each).

    Raises:
        NothingToUndo: no edit is left to undo.
    """
    states: list[Doc] = [origin]
    for entry in journal:
        ops = list(entry.get("ops", ()))
        if entry.get("who") == UNDO_AUTHOR:
            if len(states) > 1:
                states.pop()
        elif ops and all(op.get("op") in OP_SCHEMAS for op in ops):
            states.append(apply_edits(states[-1], ops))
    if len(states) < 2:
        raise NothingToUndo("nothing to undo: no live edit is left in the journal")
    return diff_ops(states[-1], states[-2])


def _key(conn: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(conn["from"]), str(conn["to"]), str(conn.get("port", "main")))


def _numeric_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, float] | None:
    """``set_param`` values turning ``old`` into ``new``; None when more than numbers differ."""
    if {k: v for k, v in old.items() if k != "params"} != {
        k: v for k, v in new.items() if k != "params"
    }:
        return None
    before, after = dict(old.get("params", {})), dict(new.get("params", {}))
    if set(before) != set(after):
        return None
    changes: dict[str, float] = {}
    for name, value in after.items():
        if value == before[name]:
            continue
        if not (_number(value) and _number(before[name])):
            return None
        changes[name] = float(value)
    return changes


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def diff_ops(current: Doc, target: Doc) -> list[dict[str, Any]]:
    """Edit operations that turn config document ``current`` into ``target``.

    Order: disconnect, remove nodes, change nodes (``set_param`` when only numbers
    differ, else ``replace_node``), add nodes, connect, set gains — each op valid on
    the document the previous ones left.
    """
    nodes_now: Mapping[str, Any] = current.get("nodes", {})
    nodes_then: Mapping[str, Any] = target.get("nodes", {})
    conns_now = {_key(c): c for c in current.get("connections", [])}
    conns_then = {_key(c): c for c in target.get("connections", [])}

    def ends(key: tuple[str, str, str]) -> dict[str, Any]:
        port = {"port": key[2]} if key[2] != "main" else {}
        return {"from": key[0], "to": key[1], **port}

    def rewired(key: tuple[str, str, str]) -> bool:  # gone, or its tap changed
        return key not in conns_then or conns_now[key].get("tap") != conns_then[key].get("tap")

    ops: list[dict[str, Any]] = [{"op": "disconnect", **ends(k)} for k in conns_now if rewired(k)]
    ops += [{"op": "remove_node", "id": n} for n in nodes_now if n not in nodes_then]
    for node_id, entry in nodes_then.items():
        if node_id not in nodes_now or nodes_now[node_id] == entry:
            continue
        changes = _numeric_changes(nodes_now[node_id], entry)
        if changes is None:
            ops.append({"op": "replace_node", "id": node_id, **entry})
        else:
            ops += [
                {"op": "set_param", "id": node_id, "param": k, "value": v}
                for k, v in changes.items()
            ]
    ops += [{"op": "add_node", "id": n, **e} for n, e in nodes_then.items() if n not in nodes_now]
    for key, conn in conns_then.items():
        if key not in conns_now or rewired(key):
            ops.append({"op": "connect", **conn})
        elif conn.get("gain_db", 0.0) != conns_now[key].get("gain_db", 0.0):
            ops.append({"op": "set_gain", **ends(key), "gain_db": conn.get("gain_db", 0.0)})
    return ops
