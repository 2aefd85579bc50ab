"""Scene files: JSONL reading with line numbers, and all events of a config.

A scene file holds one event per line (blank lines and ``#`` comments are skipped); its
problems are reported with the file's own line numbers. A config's events are its inline
``events:`` list plus its ``scene:`` file, with ids unique across both.

Example:
    >>> load_scene(Path("scene.jsonl"), 48000, {"footsteps": "sfx"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem
from ._generators import EventGenerator
from ._model import Event, parse_events


def read_jsonl(path: Path) -> tuple[list[Any], list[int]]:
    """Records and their 1-based line numbers; blank and ``#`` lines are skipped.

    Raises:
        ConfigError: the file cannot be read, or a line is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([Problem(str(path), 0, "", f"cannot read scene: {err}")]) from err
    records: list[Any] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(
                Problem(str(path), number, "", f"not valid JSON: {err.msg} (column {err.colno})")
            )
            continue
        if not isinstance(record, dict):
            problems.append(Problem(str(path), number, "", "each line must be a JSON object"))
            continue
        records.append(record)
        lines.append(number)
    if problems:
        raise ConfigError(problems)
    return records, lines


def load_scene(
    path: Path,
    sample_rate: int,
    routing: Mapping[str, str] | None = None,
    *,
    nodes: Collection[str] | None = None,
    default_target: str | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
) -> list[Event]:
    """Parse a JSONL scene (one event per line); problems carry the file's line numbers.

    Raises:
        ConfigError: unreadable file, bad JSON line, or any invalid event.
    """
    records, lines = read_jsonl(path)
    return parse_events(
        records,
        sample_rate,
        path.parent,
        routing,
        file=str(path),
        lines=lines,
        nodes=nodes,
        default_target=default_target,
        generators=generators,
    )


def events_from_config(
    config: Mapping[str, Any],
    sample_rate: int,
    base_dir: Path,
    *,
    file: str = "",
    lines: Sequence[int] | None = None,
    nodes: Collection[str] | None = None,
    default_target: str | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
) -> list[Event]:
    """All events of a validated config: its ``events:`` list plus its ``scene:`` file.

    Args:
        config: the config document (``events``, ``scene``, ``routing`` are read).
        sample_rate: the graph's rate (the document may leave it to the default).
        base_dir: the config's folder.
        file: the config's name, for messages.
        lines: line of each inline event, when the loader knows them.
        nodes: the graph's node ids (targets are checked against them).
        default_target: node for events with neither ``to`` nor a route.
        generators: name → generator (default: the built-ins).

    Raises:
        ConfigError: any invalid event (both sources are checked before raising), or an id
            used in both the list and the scene.
    """
    rate = int(sample_rate)
    routing: Mapping[str, str] = config.get("routing") or {}
    problems: list[Problem] = []
    events: list[Event] = []
    try:
        events += parse_events(
            config.get("events") or [],
            rate,
            base_dir,
            routing,
            file=file,
            lines=lines,
            nodes=nodes,
            default_target=default_target,
            generators=generators,
        )
    except ConfigError as err:
        problems += err.problems
    if config.get("scene"):
        scene_path = Path(str(config["scene"])).expanduser()
        scene_path = scene_path if scene_path.is_absolute() else base_dir / scene_path
        try:
            events += load_scene(
                scene_path,
                rate,
                routing,
                nodes=nodes,
                default_target=default_target,
                generators=generators,
            )
        except ConfigError as err:
            problems += err.problems
    seen: set[str] = set()
    for ev in events:
        if ev.id in seen:
            problems.append(
                Problem(
                    file,
                    0,
                    "scene",
                    f"event id {ev.id!r} is used twice",
                    "ids must be unique across `events` and `scene`",
                )
            )
        seen.add(ev.id)
    if problems:
        raise ConfigError(problems)
    return events
