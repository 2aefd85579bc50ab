"""JSON Schema (2020-12) of one scene event, built from the generators' declarations.

``event.schema.json`` beside this module is the output of :func:`event_schema` for the
built-in generators; a test keeps the two identical, so the file the config schema includes
can never drift from the parameters the generators accept. The schema is self-contained
(no ``$ref``), so it can be embedded as ``items`` of a config's ``events`` list.

Example:
    >>> schema = event_schema()
    >>> schema["required"]
    ['id', 'category', 'source']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._generators import BUILTIN_GENERATORS, INTEGER_PARAMS, BuiltinGenerator

SCHEMA_ID = "https://aers.invalid/schemas/event.schema.json"
SCHEMA_PATH = Path(__file__).with_name("event.schema.json")

def _generator_branch(gen: BuiltinGenerator) -> dict[str, Any]:
    """``if generator == name then only its params`` — keeps error messages specific."""
    props: dict[str, Any] = {
        "generator": {"const": gen.name},
        "seed": {"type": "integer", "minimum": 0},
    }
    for spec in gen.specs:
        kind = "integer" if spec.name in INTEGER_PARAMS else "number"
        props[spec.name] = {"type": kind, "minimum": spec.min, "maximum": spec.max}
    for name, values in gen.choices.items():
        props[name] = {"enum": list(values)}
    return {
        "if": {"properties": {"generator": {"const": gen.name}}, "required": ["generator"]},
        "then": {"properties": props, "additionalProperties": False},
    }


def event_schema(generators: Mapping[str, BuiltinGenerator] = BUILTIN_GENERATORS) -> dict[str, Any]:
    """The schema of one event; generators not listed here are checked by the parser instead."""
    source: dict[str, Any] = {
        "type": "object",
        "description": "{generator: NAME, seed?, ...params} or {file: PATH}",
        "properties": {
            "generator": {"type": "string", "minLength": 1},
            "file": {"type": "string", "minLength": 1},
        },
        "oneOf": [{"required": ["generator"]}, {"required": ["file"]}],
        "allOf": [
            {
                "if": {"required": ["file"]},
                "then": {"properties": {"file": True}, "additionalProperties": False},
            },
            *(_generator_branch(gen) for gen in generators.values()),
        ],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "AERS scene event",
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 128},
            "category": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]*$"},
            "at": {"type": "integer", "minimum": 0, "description": "start, in samples"},
            "time": {"type": "number", "minimum": 0, "description": "start, in seconds"},
            "duration": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 86400,
                "description": "seconds; optional for finite sources",
            },
            "gain_db": {"type": "number", "minimum": -120, "maximum": 24},
            "pan": {"type": "number", "minimum": -1, "maximum": 1},
            "source": source,
            "to": {"type": "string", "minLength": 1, "description": "node receiving the audio"},
        },
        "required": ["id", "category", "source"],
        "oneOf": [{"required": ["at"]}, {"required": ["time"]}],
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The canonical text of ``event.schema.json`` (what the test compares against)."""
    return json.dumps(event_schema(), indent=2) + "\n"


def load_event_schema() -> dict[str, Any]:
    """The shipped schema file, for the config schema to embed."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded
