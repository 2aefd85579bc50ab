"""Sweep axes: parse their value lists, check their dotted paths, write values into configs.

An axis is ``DOTTED.PATH: VALUES``. Two rules keep a typo from silently sweeping nothing:

* the path must exist in the base config, or name a key the schema allows at that place
  (a top-level key such as ``seed``, a node option such as ``bypass``, a parameter the
  node's type declares) — anything else is an error with a "did you mean";
* ``VALUES`` is a non-empty list, or an inclusive integer range written ``"START..END"``
  (``"1..100"`` is 100 values), capped at :data:`MAX_AXIS_VALUES`.

Example:
    >>> parse_range("1..3")
    (1, 2, 3)
    >>> data = {"nodes": {"g": {"type": "gain"}}}
    >>> set_path(data, "nodes.g.params.gain_db", -6)
    >>> data
    {'nodes': {'g': {'type': 'gain', 'params': {'gain_db': -6}}}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from .._hints import did_you_mean
from .._nodetype import NodeType
from ..config import config_schema

#: Most values one axis may have (a range like "1..10000000" is refused, not expanded).
MAX_AXIS_VALUES: Final = 100_000
#: ``START..END`` with optional signs; both ends inclusive.
RANGE_PATTERN: Final = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
#: One dotted path: segments of letters, digits, ``_`` or ``-`` (list indexes are digits).
PATH_PATTERN: Final = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


class AxisError(ValueError):
    """An axis is malformed; ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_range(text: str) -> tuple[int, ...]:
    """The integers of an inclusive ``"START..END"`` range.

    Raises:
        AxisError: not a range, END below START, or more than :data:`MAX_AXIS_VALUES`.
    """
    match = RANGE_PATTERN.match(text)
    if match is None:
        raise AxisError(
            f"{text!r} is not a value list or a range",
            "write a list [a, b, ...] or an inclusive integer range such as '1..100'",
        )
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise AxisError(f"range {text!r} is empty (END is below START)", f"write '{end}..{start}'")
    if end - start + 1 > MAX_AXIS_VALUES:
        raise AxisError(f"range {text!r} has {end - start + 1:,} values, over {MAX_AXIS_VALUES:,}")
    return tuple(range(start, end + 1))


def axis_values(raw: Any) -> tuple[Any, ...]:
    """An axis's values from its YAML form (a list or a range string).

    Raises:
        AxisError: empty, too long, or neither a list nor a range.
    """
    if isinstance(raw, str):
        return parse_range(raw)
    if not isinstance(raw, list):
        raise AxisError(
            f"must be a list of values or a range string, got {type(raw).__name__}",
            "write a list [a, b, ...] or an inclusive integer range such as '1..100'",
        )
    if not raw:
        raise AxisError("has no values", "give at least one value")
    if len(raw) > MAX_AXIS_VALUES:
        raise AxisError(f"has {len(raw):,} values, over {MAX_AXIS_VALUES:,}")
    for value in raw:
        if not is_plain_data(value):
            raise AxisError(
                f"value {value!r} is not plain JSON data",
                "use numbers, strings, booleans, lists or mappings (no .nan, .inf or dates)",
            )
    return tuple(raw)


def is_plain_data(value: Any) -> bool:
    """Whether ``value`` has a canonical JSON form (variant ids are hashes of one)."""
    try:
        json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError):
        return False
    return True


def check_path(path: str, base: Mapping[str, Any], registry: Mapping[str, NodeType]) -> None:
    """Check that ``path`` exists in ``base`` or names a key the schema allows there.

    A missing key may only be the last segment, or an intermediate mapping the schema
    allows (``nodes.g.params`` when ``g`` has no ``params`` yet).

    Raises:
        AxisError: the path leaves the base config's structure.
    """
    if not PATH_PATTERN.match(path):
        raise AxisError(
            f"{path!r} is not a dotted path", "write keys separated by dots: nodes.g.params.gain_db"
        )
    segments = path.split(".")
    here: Any = base
    for depth, segment in enumerate(segments):
        prefix = segments[:depth]
        where = ".".join(segments[: depth + 1])
        if isinstance(here, list):
            if not segment.isdigit() or int(segment) >= len(here):
                raise AxisError(
                    f"{where}: no item {segment!r} in a list of {len(here)}",
                    f"use an index from 0 to {len(here) - 1}" if here else "the list is empty",
                )
            here = here[int(segment)]
            continue
        if not isinstance(here, dict):
            parent = ".".join(prefix)
            raise AxisError(f"{parent} is a {type(here).__name__} value, not a mapping")
        if segment in here:
            here = here[segment]
            continue
        allowed = allowed_keys(prefix, base, registry)
        if segment not in allowed:
            raise _missing(segment, where, prefix, here, allowed)
        here = {}  # a new key the schema allows: deeper segments start from nothing


def _missing(
    segment: str, where: str, prefix: list[str], here: Mapping[str, Any], allowed: list[str]
) -> AxisError:
    if prefix == ["nodes"]:
        hint = did_you_mean(segment, list(here)) or f"nodes are: {', '.join(here)}"
        return AxisError(f"no node {segment!r} in the base config", hint)
    choices = sorted({*here, *allowed})
    hint = did_you_mean(segment, choices) or (
        f"keys here: {', '.join(choices)}" if choices else "nothing can be set here"
    )
    return AxisError(f"{where} does not exist in the base config", hint)


def allowed_keys(
    prefix: list[str], base: Mapping[str, Any], registry: Mapping[str, NodeType]
) -> list[str]:
    """Keys the schema allows under ``prefix`` (empty when it says nothing we can use)."""
    schema = config_schema()
    defs: Mapping[str, Any] = schema["$defs"]
    if not prefix:
        return list(schema["properties"])
    if len(prefix) == 2 and prefix[0] == "nodes":
        return list(defs["node"]["properties"])
    if len(prefix) == 2 and prefix[0] == "connections":
        return list(defs["connection"]["properties"])
    if len(prefix) == 3 and prefix[0] == "nodes" and prefix[2] == "params":
        node = base.get("nodes", {}).get(prefix[1], {})
        node_type = registry.get(node.get("type", "")) if isinstance(node, dict) else None
        if node_type is not None:
            return list(node_type.params_schema().get("properties", {}))
    return []


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path`` in ``data``, creating missing mappings on the way.

    Call only with a path :func:`check_path` accepted for the same base.
    """
    segments = path.split(".")
    here: Any = data
    for segment in segments[:-1]:
        here = here[int(segment)] if isinstance(here, list) else here.setdefault(segment, {})
    last = segments[-1]
    if isinstance(here, list):
        here[int(last)] = value
    else:
        here[last] = value
