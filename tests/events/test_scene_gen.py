"""Scene generation: seeded, valid, and under the per-category polyphony cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aers_host.events import (
    BUILTIN_GENERATORS,
    SCENE_KINDS,
    generate_scene,
    load_scene,
    parse_events,
    write_scene,
)

SR = 48000


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_every_kind_writes_a_scene_load_scene_accepts(kind: str, tmp_path: Path) -> None:
    records = generate_scene(kind, 6, seed=4, duration=10.0, to="bus")
    path = tmp_path / "scene.jsonl"
    write_scene(records, path)
    events = load_scene(path, SR)
    assert len(events) == 6
    assert [e.at for e in events] == sorted(e.at for e in events)
    if kind != "mixed":
        assert {e.category for e in events} == {kind}
    assert all(e.to == "bus" for e in events)


def test_same_arguments_same_scene_other_seed_other_scene() -> None:
    a = generate_scene("mixed", 10, seed=9)
    assert a == generate_scene("mixed", 10, seed=9)
    assert a != generate_scene("mixed", 10, seed=10)
    assert len({r["source"]["seed"] for r in a}) == 10  # each event has its own seed


def _spans(records: list[dict[str, object]]) -> dict[str, list[tuple[int, int]]]:
    """Sample span of every event, per category, as the scheduler will play it."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for ev in parse_events(records, SR, Path("."), default_target="bus"):
        natural = BUILTIN_GENERATORS[ev.source["generator"]].natural_seconds(ev.source)
        length = ev.duration if ev.duration is not None else round(float(natural or 0) * SR)
        spans.setdefault(ev.category, []).append((ev.at, ev.at + length))
    return spans


@pytest.mark.parametrize("cap", [1, 2])
def test_polyphony_cap_per_category_holds(cap: int) -> None:
    records = generate_scene("mixed", 40, seed=2, duration=20.0, max_polyphony=cap)
    for category, spans in _spans(records).items():
        for at, _ in spans:
            sounding = sum(1 for a, b in spans if a <= at < b)
            assert sounding <= cap, (category, at)


def test_uncapped_scene_may_overlap_more() -> None:
    records = generate_scene("ambience", 20, seed=2, duration=5.0)
    spans = _spans(records)["ambience"]
    assert max(sum(1 for a, b in spans if a <= at < b) for at, _ in spans) > 2


def test_stdout_when_no_path(capsys: pytest.CaptureFixture[str]) -> None:
    write_scene(generate_scene("impulse", 2, seed=0))
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["category"] for line in lines] == ["impulse", "impulse"]


@pytest.mark.parametrize("bad", [{"kind": "rain"}, {"count": 0}, {"max_polyphony": 0}])
def test_bad_arguments(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"kind": "footsteps", "count": 3, "seed": 1, **bad}
    with pytest.raises(ValueError):
        generate_scene(args.pop("kind"), args.pop("count"), args.pop("seed"), **args)  # type: ignore[arg-type]
