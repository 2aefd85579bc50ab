"""Scene files: JSONL reading with line numbers, and all events of a config.

A scene file holds one event per line (blank lines and ``#`` comments are skipped); its
problems are reported with the file's own line numbers. A config's events are its inline
``events:`` list plus its ``scene:`` file, with ids unique across both.

Hostile or runaway scenes are refused before they can cost much:

1. files over :data:`MAX_SCENE_BYTES` are refused from ``stat`` alone, unread;
2. reading stops at the first event past :data:`MAX_SCENE_EVENTS`, which also bounds a
   config's inline ``events`` and the two sources together (validating a scene at the
   limit takes ~4 s).

Example:
    >>> load_scene(Path("scene.jsonl"), 48000, {"footsteps": "sfx"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._files import TooLarge, read_bounded
from ..errors import ConfigError, Problem
from ._generators import EventGenerator
from ._model import Event, parse_events, routing_problems

#: Largest scene file read at all: 100 000 generated events take ~23 MB, so this leaves
#: room for long ids and file paths while a runaway file is refused unread.
MAX_SCENE_BYTES = 64 * 1024 * 1024
#: Most events in one scene (a scene file, a config's inline ``events``, or both together).
#: Parsing and validating costs ~35 µs an event, so a scene at the limit checks in ~4 s.
MAX_SCENE_EVENTS = 100_000
#: Scene text is split into lines this many characters at a time (at a ``\n``), so a
#: file of blank lines never becomes a list of millions of strings.
_CHUNK_CHARS = 1 << 20
_SPLIT_HINT = "split it into several scene files, one `scene:` per config"


def _too_many(file: str, line: int, what: str, hint: str = _SPLIT_HINT) -> Problem:
    """``events.LIMIT`` (the first event past the limit) of ``file`` is one too many."""
    return Problem(
        file,
        line,
        f"events.{MAX_SCENE_EVENTS}",
        f"{what} more than the limit of {MAX_SCENE_EVENTS:,} events",
        hint,
    )


class UnreadableScene(ConfigError):
    """The scene file could not be opened or decoded (the cause is kept for rewording).

    Read on its own (``read_jsonl``) the problem is located at the file itself; a config's
    ``scene:`` rewords it at that key (:meth:`at_config_key`).
    """

    def __init__(self, path: Path, cause: OSError | UnicodeDecodeError) -> None:
        self.path, self.cause = path, cause
        super().__init__([Problem(str(path), 0, "", f"cannot read scene: {cause}")])

    def at_config_key(self, file: str, line: int, written: str) -> Problem:
        """``FILE:LINE: scene: cannot read scene file WRITTEN: reason (hint)``."""
        cause = self.cause
        if isinstance(cause, UnicodeDecodeError):
            reason, hint = "not UTF-8 text", "a scene is a JSONL text file, one event per line"
        elif isinstance(cause, FileNotFoundError):
            reason = cause.strerror or str(cause)
            hint = (
                f"looked for {self.path.resolve()}; a relative path starts at the config's folder"
            )
        else:
            reason, hint = cause.strerror or str(cause), "check the path and its permissions"
        return Problem(file, line, "scene", f"cannot read scene file {written}: {reason}", hint)


def _scene_text(path: Path, what: str = "scene", hint: str = _SPLIT_HINT) -> str:
    """The file's text, refused from ``stat`` alone when over :data:`MAX_SCENE_BYTES`.

    ``what`` names the file in the refusal (an event log is read the same way).
    """
    limit = f"over the {MAX_SCENE_BYTES // 2**20} MiB limit"
    try:
        return read_bounded(path, MAX_SCENE_BYTES).decode("utf-8")
    except TooLarge as err:
        size = "" if err.size is None else f" {err.size / 1e6:.1f} MB,"
        message = f"{what} is{size} {limit}"
        raise ConfigError([Problem(str(path), 0, "", message, hint)]) from err
    except (OSError, UnicodeDecodeError) as err:
        raise UnreadableScene(path, err) from err


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    r"""``enumerate(text.splitlines(), 1)``, split a chunk at a time (same lines, same numbers).

    Chunks end just after a ``\n``, so no line break (``\r\n`` included) straddles two.
    """
    number, start = 0, 0
    while start < len(text):
        cut = text.find("\n", start + _CHUNK_CHARS)
        end = len(text) if cut < 0 else cut + 1
        for line in text[start:end].splitlines():
            number += 1
            yield number, line
        start = end


def read_jsonl(path: Path, max_records: int | None = None) -> tuple[list[Any], list[int]]:
    """Records and their 1-based line numbers; blank and ``#`` lines are skipped.

    Args:
        path: the JSONL file (at most :data:`MAX_SCENE_BYTES`).
        max_records: refuse the file at its first record line past this many (None: no
            limit beyond the size).

    Raises:
        ConfigError: the file cannot be read, is too large or has too many records, or a
            line is not a JSON object.
    """
    records, lines, problems, over = _read_records(path, max_records)
    if over:
        problems.append(_too_many(str(path), over, "scene has"))
    if problems:
        raise ConfigError(problems)
    return records, lines


def _read_records(
    path: Path, max_records: int | None, what: str = "scene", hint: str = _SPLIT_HINT
) -> tuple[list[Any], list[int], list[Problem], int]:
    """Records, their lines, bad lines, and the line of the record past ``max_records``.

    That last is 0 when there is none; otherwise reading stopped there. ``what`` and
    ``hint`` word the size refusal (see :func:`_scene_text`).

    Raises:
        ConfigError: the file cannot be read or is over :data:`MAX_SCENE_BYTES`.
    """
    text = _scene_text(path, what, hint)
    records: list[Any] = []
    lines: list[int] = []
    problems: list[Problem] = []
    seen = 0
    for number, line in _numbered_lines(text):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if max_records is not None and seen == max_records:
            return records, lines, problems, number
        seen += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            problems.append(
                Problem(str(path), number, "", f"not valid JSON: {err.msg} (column {err.colno})")
            )
            continue
        except RecursionError:
            problems.append(Problem(str(path), number, "", "line nests too deeply"))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(str(path), number, "", "each line must be a JSON object"))
            continue
        records.append(record)
        lines.append(number)
    return records, lines, problems, 0


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
        ConfigError: unreadable file, over :data:`MAX_SCENE_BYTES` or
            :data:`MAX_SCENE_EVENTS`, bad JSON line, or any invalid event.
    """
    records, lines = read_jsonl(path, MAX_SCENE_EVENTS)
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
    key_lines: Mapping[str, int] | None = None,
) -> list[Event]:
    """All events of a validated config: its ``events:`` list plus its ``scene:`` file.

    Args:
        config: the config document (``events``, ``scene``, ``routing`` and ``seed``, which
            seeds generated sources that set none, are read).
        sample_rate: the graph's rate (the document may leave it to the default).
        base_dir: the config's folder.
        file: the config's name, for messages.
        lines: line of each inline event, when the loader knows them.
        key_lines: config path → line (``scene``, ``routing.CATEGORY``), for problems of
            the config's own keys.
        nodes: the graph's node ids (targets are checked against them).
        default_target: node for events with neither ``to`` nor a route.
        generators: name → generator (default: the built-ins).

    Raises:
        ConfigError: any invalid event (both sources are checked before raising), an id
            used in both the list and the scene, or more than :data:`MAX_SCENE_EVENTS`
            events in the list, the scene or both together (then nothing is parsed).
    """
    rate = int(sample_rate)
    seed = config.get("seed", 0)
    seed = seed if type(seed) is int and seed >= 0 else 0  # the config schema reports others
    routing: Mapping[str, str] = config.get("routing") or {}
    inline: Sequence[Any] = config.get("events") or []
    key_lines = key_lines or {}
    problems: list[Problem] = []
    scene_problems: list[Problem] = []  # reported after the inline events' own, as before
    too_many = len(inline) > MAX_SCENE_EVENTS
    if too_many:
        line = lines[MAX_SCENE_EVENTS] if lines and len(lines) > MAX_SCENE_EVENTS else 0
        problems.append(_too_many(file, line, "`events` has", "split them across several configs"))
    scene: tuple[Path, list[Any], list[int]] | None = None
    if config.get("scene"):
        scene_path = Path(str(config["scene"])).expanduser()
        scene_path = scene_path if scene_path.is_absolute() else base_dir / scene_path
        try:
            records, record_lines, bad, over = _read_records(scene_path, MAX_SCENE_EVENTS)
        except UnreadableScene as err:  # a mistake in the config's `scene:` key
            written = str(config["scene"])
            scene_problems.append(err.at_config_key(file, key_lines.get("scene", 0), written))
        except ConfigError as err:  # too large: the inline events still count
            scene_problems += err.problems
        else:
            if over:
                too_many = True
                problems.append(_too_many(str(scene_path), over, "scene has"))
            scene_problems += bad
            if not bad:
                scene = (scene_path, records, record_lines)
    total = len(inline) + (len(scene[1]) if scene is not None else 0)
    if not too_many and total > MAX_SCENE_EVENTS:
        too_many = True
        problems.append(
            Problem(
                file,
                0,
                "scene",
                f"`events` and `scene` hold {total:,} events together, "
                f"more than the limit of {MAX_SCENE_EVENTS:,}",
                "move some of them to another config",
            )
        )
    if too_many:  # validating a runaway scene is what the limit avoids
        raise ConfigError(problems + scene_problems)
    events: list[Event] = []
    try:
        events += parse_events(
            inline,
            rate,
            base_dir,
            routing,
            file=file,
            lines=lines,
            nodes=nodes,
            default_target=default_target,
            generators=generators,
            check_routing=False,
            seed=seed,
        )
    except ConfigError as err:
        problems += err.problems
    if nodes is not None:  # once, at the rules' own lines (both parses skip it)
        problems += routing_problems(routing, nodes, file, key_lines)
    problems += scene_problems
    if scene is not None:
        scene_path, records, record_lines = scene
        try:
            events += parse_events(
                records,
                rate,
                scene_path.parent,
                routing,
                file=str(scene_path),
                lines=record_lines,
                nodes=nodes,
                default_target=default_target,
                generators=generators,
                check_routing=False,
                seed=seed,
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
