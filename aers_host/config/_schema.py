"""JSON Schema checking that reports every problem as a readable, located :class:`Problem`.

jsonschema's own messages ("Additional properties are not allowed ('bloc_size' was
unexpected)") are rewritten into what a user acts on: ``block_size``-style paths, the
offending key itself as the path for unknown keys, and a "did you mean" hint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from .._hints import did_you_mean
from ..errors import Problem

LineOf = Callable[[str], int]


@cache
def config_schema() -> Mapping[str, Any]:
    """The packaged config schema (JSON Schema 2020-12).

    Not checked against the metaschema here: that is a property of the shipped file, not
    of the user's config, so a test holds it (``tests/config/test__schema.py``) and
    every command saves the ~15 ms the check costs.
    """
    text = resources.files("aers_host.config").joinpath("schema.json").read_text("utf-8")
    schema: Mapping[str, Any] = json.loads(text)
    return schema


def schema_range(key: str) -> tuple[int, int]:
    """The ``minimum`` and ``maximum`` schema.json gives the top-level ``key``.

    The schema is where these ranges live (``sample_rate``: 8000…192000 Hz, docs/config.md);
    whatever else accepts such a value (a remote node's HELLO) asks here, so the config and
    the wire never disagree.
    """
    limits = config_schema()["properties"][key]
    return int(limits["minimum"]), int(limits["maximum"])


def join_path(*parts: object) -> str:
    """Dotted JSON path from parts, skipping empty ones."""
    return ".".join(str(p) for p in parts if p != "")


def non_finite_paths(value: Any, path: str) -> Iterator[str]:
    """Paths of NaN/±inf numbers (JSON's NaN and YAML's .nan pass JSON Schema's checks)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_paths(item, join_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from non_finite_paths(item, join_path(path, index))


def schema_problems(
    instance: Any, schema: Mapping[str, Any], *, file: str, base: str, line_of: LineOf
) -> list[Problem]:
    """Validate ``instance`` and return one Problem per error, located under ``base``."""
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        problems.extend(_to_problems(error, file, base, line_of))
    return problems


def _to_problems(
    error: ValidationError, file: str, base: str, line_of: LineOf
) -> Iterator[Problem]:
    path = join_path(base, *error.absolute_path)
    kind = error.validator
    schema: Any = error.schema
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                key_path = join_path(path, key)
                hint = did_you_mean(str(key), allowed) or (
                    f"allowed: {', '.join(allowed)}" if allowed else "no keys are allowed here"
                )
                yield Problem(file, line_of(key_path), key_path, f"unknown key {key!r}", hint)
        return
    if kind == "propertyNames":
        yield Problem(
            file,
            line_of(path),
            path,
            f"invalid name {error.instance!r}",
            "use letters, digits, '_' or '-', starting with a letter or '_'",
        )
        return
    yield Problem(file, line_of(path), path, *_message(error))


def _message(error: ValidationError) -> tuple[str, str]:
    """(message, hint) for the common validators; jsonschema's text otherwise."""
    kind = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in value)
        if isinstance(instance, str) and instance in (json.dumps(v) for v in value):
            hint = f"write {instance} without quotes: it is a number"
        else:
            close = did_you_mean(instance, value) if isinstance(instance, str) else ""
            hint = close or f"use one of {options}"
        return f"{shown(instance)} is not supported", hint
    if kind == "const":
        return f"must be {json.dumps(value)}, got {shown(instance)}", ""
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required key {missing!r}", ""
    if kind == "type":
        message = f"must be of type {value}, got {type(instance).__name__} {shown(instance)}"
        numeric = value in ("integer", "number") and isinstance(instance, str)
        return message, f"write {instance} without quotes: it is a number" if numeric and (
            _is_number(instance)
        ) else ""
    if kind in ("maxItems", "minItems"):
        relation = "at most" if kind == "maxItems" else "at least"
        return f"has {len(instance):,} items; it must have {relation} {value:,}", ""
    if kind in ("minimum", "exclusiveMinimum"):
        relation = ">=" if kind == "minimum" else ">"
        negative = " (negative values make no sense here)" if float(instance) < 0 <= value else ""
        return f"{instance} is too small: must be {relation} {value}{negative}", ""
    if kind in ("maximum", "exclusiveMaximum"):
        relation = "<=" if kind == "maximum" else "<"
        return f"{instance} is too large: must be {relation} {value}", ""
    if kind == "minProperties":
        return "must not be empty", ""
    if kind == "not" and isinstance(value, dict) and set(value) == {"required"}:
        return _exclusive_keys(list(value["required"]))
    return _clipped(error.message), ""


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


#: Longest echo of a value in a message: a 100 000-number list must not become one line.
_ECHO_CHARS = 60


def shown(value: Any) -> str:
    """``value`` as JSON, cut to :data:`_ECHO_CHARS` characters (``…`` marks the cut)."""
    return _clipped(json.dumps(value, default=str), _ECHO_CHARS)


def _clipped(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exclusive_keys(keys: list[object]) -> tuple[str, str]:
    """(message, hint) for ``not: {required: [a, b]}``: keys that must not all be given."""
    names = [f"`{k}`" for k in keys]
    if len(names) == 2:
        return (
            f"{names[0]} and {names[1]} are both given",
            f"give either {' or '.join(names)}, not both",
        )
    listed = ", ".join(names)
    return f"{listed} are all given", f"give at most {len(names) - 1} of {listed}"
