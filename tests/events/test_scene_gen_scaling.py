"""``aers events generate`` is bounded by the scene limit and places events in O(N log N).

The placement keeps a heap of end times instead of rebuilding the list of sounding events
per event; the scenes it writes must be exactly those of the list version (kept below).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest

from aers_host.events import _scene_gen, generate_scene
from aers_host.events._scene import MAX_SCENE_EVENTS


def list_place(start: float, length: float, active: list[float], cap: int | None) -> float:
    """The placement before the heap (reference: same scenes for the same seed)."""
    start = math.ceil(start * 1e4) / 1e4
    active[:] = [end for end in active if end > start]
    while cap is not None and len(active) >= cap:
        start = math.ceil(min(active) * 1e4) / 1e4 + 1e-4
        active[:] = [end for end in active if end > start]
    active.append(start + length)
    return start


@pytest.mark.parametrize(
    ("kind", "count", "seed", "duration", "cap"),
    [
        ("mixed", 3000, 3, 30.0, None),
        ("mixed", 3000, 11, 30.0, 4),
        ("footsteps", 2000, 0, 10.0, 2),
        ("explosion", 1500, 7, 5.0, 1),
        ("ambience", 800, 9, 60.0, 3),
        ("dialogue", 1200, 1, 2.0, 16),
        ("tone", 1000, 5, 1.0, None),
        ("impulse", 500, 2, 0.01, 1),
    ],
)
def test_scenes_are_those_of_the_list_placement(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    count: int,
    seed: int,
    duration: float,
    cap: int | None,
) -> None:
    heap = generate_scene(kind, count, seed, duration=duration, max_polyphony=cap)
    monkeypatch.setattr(_scene_gen, "_place", list_place)
    listed = generate_scene(kind, count, seed, duration=duration, max_polyphony=cap)
    assert heap == listed


class NoScan(list[float]):
    """An active set that may be read at its head only (a scan means O(N) per event)."""

    def __iter__(self) -> Iterator[float]:
        raise AssertionError("placement scanned every sounding event")


@pytest.mark.parametrize("cap", [None, 3])
def test_placing_an_event_reads_only_the_head_of_the_active_set(cap: int | None) -> None:
    active = NoScan()
    place: Callable[[float, float, list[float], int | None], float] = _scene_gen._place
    starts = [place(i * 0.001, 5.0, active, cap) for i in range(200)]
    assert starts == sorted(starts) and len(active) == (200 if cap is None else 3)


def test_count_is_bounded_by_the_scene_limit() -> None:
    with pytest.raises(ValueError, match=f"{MAX_SCENE_EVENTS:,}"):
        generate_scene("impulse", MAX_SCENE_EVENTS + 1, 0)


@pytest.mark.parametrize("count", [str(MAX_SCENE_EVENTS + 1), "99999999999999999999"])
def test_cli_refuses_a_count_over_the_limit_up_front(
    run_cli: Callable[..., object], count: str
) -> None:
    result = run_cli("events", "generate", "--kind", "impulse", "--count", count)
    assert result.code == 2  # type: ignore[attr-defined]
    assert f"at most {MAX_SCENE_EVENTS:,} events" in result.err  # type: ignore[attr-defined]
    assert "Traceback" not in result.err  # type: ignore[attr-defined]
