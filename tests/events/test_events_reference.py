"""docs/events.md names every event field, every generator and every generator parameter
and choice (issue 21, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aers_host.events import SCENE_KINDS, default_generators, event_schema

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")


def _named(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_.-]*)`", text))


def test_every_event_field_is_described() -> None:
    assert set(event_schema()["properties"]) - _named(DOC) == set()


@pytest.mark.parametrize("name", sorted(default_generators()))
def test_every_generator_has_a_section_with_every_param(name: str) -> None:
    start = DOC.index(f"### `{name}`")
    end = DOC.find("\n### ", start + 1)
    section = DOC[start : end if end >= 0 else len(DOC)]
    generator = default_generators()[name]
    names = {spec.name for spec in getattr(generator, "specs", ())}
    for param, values in getattr(generator, "choices", {}).items():
        names |= {param, *values}
    assert names - _named(section) == set()


def test_scene_kinds_are_generators_or_mixed() -> None:
    assert set(SCENE_KINDS) - set(default_generators()) == {"mixed"}
