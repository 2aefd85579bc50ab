"""docs/config.md is a complete reference (issue 21, item 6): every key the schema allows,
every built-in node type with every one of its params, each in its own section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphs import Registry

from aers_host import builtin_names
from aers_host.config import config_schema

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    start = DOC.index(heading)
    end = DOC.find("\n### ", start + len(heading))
    return DOC[start : end if end >= 0 else len(DOC)]


def _named(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_.-]*)`", text))


def test_every_top_level_node_and_connection_key_is_described() -> None:
    schema = config_schema()
    keys = set(schema["properties"]) | set(schema["$defs"]["node"]["properties"])
    keys |= set(schema["$defs"]["connection"]["properties"])
    assert keys - _named(DOC) == set()


@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_every_builtin_node_type_has_a_section_with_every_param(
    name: str, registry: Registry
) -> None:
    section = _section(f"### `{name}` (")
    params = set(registry[name].params_schema().get("properties", {}))
    assert params - _named(section) == set()
