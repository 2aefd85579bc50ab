"""Seeded scene generation: ``aers events generate --kind K --count N --seed S``.

The same (kind, count, seed, duration, cap) always yields the same scene: every random
choice — start times, gains, pans, generator params and each event's own generator seed —
comes from one ``numpy.random.Generator(PCG64(seed))``. Events of one category never
exceed ``max_polyphony`` at once: an event that would is moved to the moment the earliest
sounding one of its category ends, as a game's voice manager would queue it.

Example:
    >>> records = generate_scene("footsteps", 3, seed=7, duration=10.0)
    >>> [r["category"] for r in records]
    ['footsteps', 'footsteps', 'footsteps']
"""

from __future__ import annotations

import heapq
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._generators import BUILTIN_GENERATORS
from ._scene import MAX_SCENE_EVENTS

if TYPE_CHECKING:  # ``np.random`` is a ~20 ms import that only scene generation needs
    _Rng = np.random.Generator
    #: kind → (params, seconds it sounds, explicit duration?, gain_db) drawn from the rng.
    _Draw = Callable[[_Rng], tuple[dict[str, Any], float, bool, float]]


def _footsteps(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    surface = str(rng.choice(BUILTIN_GENERATORS["footsteps"].choices["surface"]))
    params = {"cadence_hz": round(float(rng.uniform(1.5, 2.2)), 3), "surface": surface}
    return params, round(float(rng.uniform(2.0, 6.0)), 3), True, float(rng.uniform(-15, -9))


def _dialogue(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    params = {
        "f0_hz": round(float(rng.uniform(90, 220)), 1),
        "syllable_rate": round(float(rng.uniform(3.5, 5.5)), 2),
    }
    return params, round(float(rng.uniform(1.5, 4.0)), 3), True, float(rng.uniform(-12, -8))


def _explosion(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    decay = round(float(rng.uniform(1.5, 4.0)), 2)
    params = {
        "decay_s": decay,
        "thump_hz": round(float(rng.uniform(40, 70)), 1),
        "brightness_hz": round(float(rng.uniform(1500, 6000)), 0),
        "debris": round(float(rng.uniform(0.1, 0.6)), 2),
    }
    return params, decay + 0.3, False, float(rng.uniform(-8, -4))


def _ambience(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    params = {
        "color": str(rng.choice(["pink", "brown"])),
        "cutoff_hz": round(float(rng.uniform(2000, 10000)), 0),
    }
    return params, round(float(rng.uniform(5.0, 15.0)), 3), True, float(rng.uniform(-20, -16))


def _tone(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    return (
        {"freq": float(rng.choice([250.0, 500.0, 1000.0, 2000.0]))},
        round(float(rng.uniform(0.5, 2.0)), 3),
        True,
        -20.0,
    )


def _impulse(rng: _Rng) -> tuple[dict[str, Any], float, bool, float]:
    return {}, 0.0, False, 0.0


_KINDS: Mapping[str, _Draw] = {
    "footsteps": _footsteps,
    "dialogue": _dialogue,
    "explosion": _explosion,
    "ambience": _ambience,
    "tone": _tone,
    "impulse": _impulse,
}
#: What ``--kind`` accepts; ``mixed`` draws from the four game-audio categories.
SCENE_KINDS = (*_KINDS, "mixed")
_MIXED = ("footsteps", "dialogue", "explosion", "ambience")


def _place(start: float, length: float, active: list[float], cap: int | None) -> float:
    """The earliest time ≥ ``start`` at which fewer than ``cap`` voices still sound.

    ``active`` is a min-heap (:mod:`heapq`) of the end times of the category's sounding
    events; ends at or before the chosen start are popped, so each event is pushed and
    popped once and a scene of N events is placed in O(N log N).
    """
    start = math.ceil(start * 1e4) / 1e4  # the scene stores 0.1 ms resolution
    while active and active[0] <= start:
        heapq.heappop(active)
    while cap is not None and len(active) >= cap:
        start = math.ceil(active[0] * 1e4) / 1e4 + 1e-4  # a sample's margin
        while active and active[0] <= start:
            heapq.heappop(active)
    heapq.heappush(active, start + length)
    return start


def generate_scene(
    kind: str,
    count: int,
    seed: int,
    *,
    duration: float = 30.0,
    max_polyphony: int | None = None,
    to: str | None = None,
) -> list[dict[str, Any]]:
    """Scene records (docs/events.md fields, ``time`` in seconds), sorted by start.

    Args:
        kind: one of :data:`SCENE_KINDS`.
        count: number of events (at most :data:`MAX_SCENE_EVENTS`, what a scene may hold).
        seed: the scene seed.
        duration: span in seconds over which starts are drawn.
        max_polyphony: per-category cap on overlapping events (None: uncapped).
        to: explicit target node for every event (None: the config's ``routing`` decides).

    Raises:
        ValueError: unknown kind, a non-positive count, duration or cap, or more events
            than :data:`MAX_SCENE_EVENTS`.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(SCENE_KINDS)}")
    if count < 1 or duration <= 0 or (max_polyphony is not None and max_polyphony < 1):
        raise ValueError("count, duration and max_polyphony must be positive")
    if count > MAX_SCENE_EVENTS:
        raise ValueError(f"count {count} is over the scene limit of {MAX_SCENE_EVENTS:,} events")
    rng = np.random.Generator(np.random.PCG64(seed))
    drafts = []
    for _ in range(count):
        category = str(rng.choice(_MIXED)) if kind == "mixed" else kind
        params, length, explicit, gain = _KINDS[category](rng)
        start = float(rng.uniform(0.0, duration * 0.9))
        pan = 0.0 if category == "ambience" else round(float(rng.uniform(-0.8, 0.8)), 3)
        source = {"generator": category, "seed": int(rng.integers(0, 2**31)), **params}
        drafts.append((start, category, length, explicit, round(gain, 2), pan, source))
    drafts.sort(key=lambda d: d[0])
    active: dict[str, list[float]] = {}
    records = []
    for start, category, length, explicit, gain, pan, source in drafts:
        begin = _place(start, length, active.setdefault(category, []), max_polyphony)
        record: dict[str, Any] = {"id": "", "category": category, "time": begin}
        if explicit:
            record["duration"] = length
        record.update(gain_db=gain, pan=pan, source=source)
        if to:
            record["to"] = to
        records.append(record)
    records.sort(key=lambda r: float(r["time"]))
    for index, record in enumerate(records):
        record["id"] = f"{record['category']}-{index:03d}"
    return records


def write_scene(records: Iterable[Mapping[str, Any]], path: Path | None = None) -> None:
    """Write records as JSONL to ``path`` (stdout when None)."""
    text = "".join(json.dumps(dict(r)) + "\n" for r in records)
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
