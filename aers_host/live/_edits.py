"""Graph edits as transactions on the config document.

An edit is a list of operations applied to a *copy* of the config data; the result is
validated exactly like a config file (same schema, same messages), so an invalid edit is
refused whole and changes nothing. Operations:

=================  ==============================================================
``add_node``       ``{op, id, type, params?, bypass?, mute?, ...node options}``
``remove_node``    ``{op, id}`` — also removes every connection of the node
``replace_node``   ``{op, id, type, params?}`` — keeps the node's connections
``connect``        ``{op, from, to, gain_db?, port?, tap?}``
``disconnect``     ``{op, from, to, port?}``
``set_gain``       ``{op, from, to, gain_db, port?}``
``set_param``      ``{op, id, param, value}``
=================  ==============================================================

Example:
    >>> data = {"nodes": {"a": {"type": "sine"}, "o": {"type": "output"}},
    ...         "connections": [{"from": "a", "to": "o"}]}
    >>> new = apply_edits(data, [{"op": "set_gain", "from": "a", "to": "o", "gain_db": -6}])
    >>> new["connections"]
    [{'from': 'a', 'to': 'o', 'gain_db': -6}]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .._hints import did_you_mean
from ..config._schema import schema_problems
from ..errors import ConfigError, Problem

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_ENDS = {"from": _ID, "to": _ID, "port": {"enum": ["main", "sidechain"]}}


def _op(name: str, required: Sequence[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"op": {"const": name}, **properties},
        "required": ["op", *required],
        "additionalProperties": False,
    }


_NODE_FIELDS = {
    "id": _ID,
    "type": {"type": "string", "minLength": 1},
    "params": {"type": "object"},
    "bypass": {"type": "boolean"},
    "mute": {"type": "boolean"},
    "fallback": {"enum": ["bypass", "silence"]},
    "deadline_ms": {"type": "number", "exclusiveMinimum": 0},
    "isolation": {"enum": ["sandbox", "in-process", "shared", "per-plugin", "per-instance"]},
}

#: JSON Schema of one operation, keyed by ``op``.
OP_SCHEMAS: dict[str, dict[str, Any]] = {
    "add_node": _op("add_node", ["id", "type"], **_NODE_FIELDS),
    "remove_node": _op("remove_node", ["id"], id=_ID),
    "replace_node": _op("replace_node", ["id", "type"], **_NODE_FIELDS),
    "connect": _op("connect", ["from", "to"],
                   **_ENDS, gain_db={"type": "number"}, tap={"enum": ["pre", "post"]}),
    "disconnect": _op("disconnect", ["from", "to"], **_ENDS),
    "set_gain": _op("set_gain", ["from", "to", "gain_db"], **_ENDS, gain_db={"type": "number"}),
    "set_param": _op("set_param", ["id", "param", "value"],
                     id=_ID, param={"type": "string", "minLength": 1}, value={"type": "number"}),
}  # fmt: skip

#: Most operations one edit may carry.
MAX_OPS = 256


def _fail(path: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError([Problem("<edit>", 0, path, message, hint)])


def check_ops(ops: Any) -> list[Mapping[str, Any]]:
    """Check the shape of an edit: a list of known operations with valid fields.

    Raises:
        ConfigError: naming ``edit.N.field`` for every problem.
    """
    if isinstance(ops, Mapping):
        ops = [ops]
    if not isinstance(ops, list) or not ops:
        raise _fail("edit", "an edit is an operation or a non-empty list of operations")
    if len(ops) > MAX_OPS:
        raise _fail("edit", f"{len(ops)} operations in one edit; at most {MAX_OPS}")
    problems: list[Problem] = []
    for index, op in enumerate(ops):
        path = f"edit.{index}"
        name = op.get("op") if isinstance(op, Mapping) else None
        schema = OP_SCHEMAS.get(name) if isinstance(name, str) else None
        if schema is None:
            hint = did_you_mean(str(name), list(OP_SCHEMAS)) or f"one of {', '.join(OP_SCHEMAS)}"
            problems.append(Problem("<edit>", 0, f"{path}.op", f"unknown operation {name!r}", hint))
            continue
        problems += schema_problems(op, schema, file="<edit>", base=path, line_of=lambda _: 0)
    if problems:
        raise ConfigError(problems)
    return list(ops)


def apply_edits(data: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """Apply operations to a copy of a config document (not yet validated as a graph).

    Raises:
        ConfigError: a malformed operation, or one that names what is not there.
    """
    doc = copy.deepcopy(dict(data))
    nodes: dict[str, Any] = doc.setdefault("nodes", {})
    connections: list[dict[str, Any]] = doc.setdefault("connections", [])
    for index, op in enumerate(check_ops(ops)):
        _apply(op, nodes, connections, f"edit.{index}")
    return doc


def _node_entry(op: Mapping[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in op.items() if k not in ("op", "id")}


def _apply(
    op: Mapping[str, Any], nodes: dict[str, Any], connections: list[dict[str, Any]], path: str
) -> None:
    kind = op["op"]
    if kind in ("remove_node", "replace_node", "set_param") and op["id"] not in nodes:
        raise _fail(f"{path}.id", f"no node {op['id']!r}", did_you_mean(op["id"], list(nodes)))
    if kind == "add_node":
        if op["id"] in nodes:
            raise _fail(f"{path}.id", f"node {op['id']!r} already exists")
        nodes[op["id"]] = _node_entry(op)
    elif kind == "remove_node":
        del nodes[op["id"]]
        connections[:] = [c for c in connections if op["id"] not in (c["from"], c["to"])]
    elif kind == "replace_node":
        nodes[op["id"]] = _node_entry(op)
    elif kind == "set_param":
        nodes[op["id"]].setdefault("params", {})[op["param"]] = op["value"]
    elif kind == "connect":
        if _find(connections, op) is not None:
            raise _fail(path, f"{op['from']} → {op['to']} is already connected")
        connections.append({k: v for k, v in op.items() if k != "op"})
    else:  # disconnect, set_gain
        found = _find(connections, op)
        if found is None:
            raise _fail(path, f"no connection {op['from']} → {op['to']}")
        if kind == "disconnect":
            connections.remove(found)
        else:
            found["gain_db"] = op["gain_db"]


def _find(connections: list[dict[str, Any]], op: Mapping[str, Any]) -> dict[str, Any] | None:
    port = op.get("port", "main")
    for conn in connections:
        if (conn["from"], conn["to"], conn.get("port", "main")) == (op["from"], op["to"], port):
            return conn
    return None
