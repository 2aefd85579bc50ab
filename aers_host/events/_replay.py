"""Event logs: what a run played, where, and when — and the input of a bit-exact replay.

Format (JSONL, UTF-8): the first line is a header
``{"aers_event_log": 1, "sample_rate": 48000, "block_size": 512, ...}``; every further
line is one event as :meth:`EventScheduler.log_entries` wrote it: the event itself
(``id, category, at, frames?, gain_db, pan, source (with seed), to``) plus what happened
(``end``, ``status`` played|stolen|dropped|unplayed, ``stolen_by``, ``peak_db``) and
``path``: one ``{"node", "in", "out"}`` per node the audio passes, in absolute samples.

* ``unplayed``: the event starts at or after the end of the render, so none of it was
  rendered: ``path`` is ``[]`` and ``peak_db`` null (``end`` stays the scheduled one).
* ``peak_db`` is the peak of the audio that sounded inside the render (after any steal).
* ``in``/``out`` are the *onset*: the first sample of the event's audio entering and
  leaving the node — ``at`` plus every latency and compensation delay on the way, plus
  the line of each ``delay`` node with ``mix: 1`` (the default) it passes. A delay with a
  dry share (``mix < 1``) lets the event through at once (the echo follows later), so it
  adds nothing to the onset. Where paths of different delays join, the earliest counts.

Replay (``--replay LOG``) builds the scene from these lines only: starts are samples and
seeds are explicit, so with the same config the render is bit-identical.

Checks (:func:`read_event_log`), every problem as ``LOG:LINE: path: message (hint)``:

* the file: at most the scene's size and event limits, UTF-8, one JSON object a line;
* the header: ``aers_event_log`` 1; ``sample_rate``, ``block_size`` and ``seed`` by the
  config's own rules; ``frames`` and ``total_latency`` whole, non-negative sample counts
  (``frames`` at most the longest render); ``sample_rate`` equal to the config's; and,
  when the header has a ``config_sha256`` (``aers events record`` writes one), the same
  config file: the replay guarantee holds only for the config the log was recorded from,
  so a log from another (or an edited) config is refused. Record a new log with it.
* each event line: the scene event rules (``event.schema.json`` and :func:`parse_events`:
  ``at`` ≥ 0, gain and pan ranges, generator parameters, unique ids, ``to`` a node of
  the config), with ``frames`` (1 … :data:`MAX_EVENT_FRAMES`, in samples) in place
  of ``duration``; the outcome fields (``end``, ``status``, ``path`` ...) by their types.

Example:
    >>> path_offsets([("ev", "bus"), ("bus", "out")], {"bus": 64}, "bus")
    [('bus', 0, 64), ('out', 64, 64)]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._hints import did_you_mean
from .._paths import atomic_write
from ..config._schema import config_schema, non_finite_paths, schema_problems
from ..errors import ConfigError, Problem
from ._generators import EventGenerator
from ._model import MAX_EVENT_FRAMES, Event, parse_events
from ._scene import MAX_SCENE_EVENTS, UnreadableScene, _read_records
from ._scheduler import PathStep

LOG_FORMAT = 1

#: A log line's fields that are the event itself: what a replay plays.
EVENT_LOG_FIELDS = ("id", "category", "at", "frames", "gain_db", "pan", "source", "to")
#: A log line's fields that say what happened in the recorded run (not replayed).
OUTCOME_FIELDS = ("end", "status", "stolen_by", "peak_db", "path")

_SAMPLE: dict[str, Any] = {"type": "integer", "minimum": 0}
#: What :meth:`EventScheduler.log_entries` writes about a run, field by field.
_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "end": _SAMPLE,
        "status": {"enum": ["played", "stolen", "dropped", "unplayed"]},
        "stolen_by": {"type": ["string", "null"]},
        "peak_db": {"type": ["number", "null"]},
        "path": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "node": {"type": "string", "minLength": 1},
                    "in": _SAMPLE,
                    "out": _SAMPLE,
                },
                "required": ["node", "in", "out"],
                "additionalProperties": False,
            },
        },
    },
}
_RECORD_HINT = "record one with `aers events record CONFIG --out LOG`"
_LIMIT_HINT = f"an event log holds at most {MAX_SCENE_EVENTS:,} events"


@dataclass(frozen=True, slots=True)
class EventLog:
    """A parsed event log."""

    #: The header line (``sample_rate``, ``block_size``, ``config``, ...).
    header: Mapping[str, Any]
    #: The events, ready to replace a config's scene.
    events: list[Event]
    #: The raw records (status, path, levels) for reports and checks.
    entries: list[dict[str, Any]]

    @property
    def sample_rate(self) -> int:
        """The rate the log was recorded at (its samples mean nothing at another)."""
        return int(self.header["sample_rate"])


def write_event_log(path: Path, entries: Iterable[Mapping[str, Any]], **header: Any) -> Path:
    """Write the header (``sample_rate`` is required) and one line per entry, atomically.

    Raises:
        ValueError: no ``sample_rate`` in the header (a bug in the caller).
    """
    if "sample_rate" not in header:
        raise ValueError("an event log header needs sample_rate")
    lines = [json.dumps({"aers_event_log": LOG_FORMAT, **header}, sort_keys=True)]
    lines += [json.dumps(dict(entry), sort_keys=True) for entry in entries]
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o644)
    return path


def read_event_log(
    path: Path,
    sample_rate: int | None = None,
    *,
    config_sha256: str | None = None,
    config_file: str = "",
    nodes: Collection[str] | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
) -> EventLog:
    """Read and check a log written by :func:`write_event_log` (see *Checks* above).

    Args:
        path: the JSONL log.
        sample_rate: the config's rate; a log recorded at another rate is refused.
        config_sha256: SHA-256 of the config file replaying the log; a log whose header
            names another is refused (None: not checked).
        config_file: the config's name, for messages.
        nodes: the graph's node ids; an event whose ``to`` is not one is refused (None:
            not checked).
        generators: name → generator (default: the built-ins).

    Raises:
        ConfigError: every problem, as ``LOG:LINE: path: message (hint)``: unreadable or
            oversized file, a line that is not a JSON object, a missing or bad header, a
            rate or config mismatch, or an event the scene rules refuse.
    """
    where = str(path)
    records, lines = _read_log_lines(path)
    if not records or records[0].get("aers_event_log") is None:
        raise ConfigError(
            [Problem(where, lines[0] if lines else 0, "", "not an AERS event log", _RECORD_HINT)]
        )
    header = records[0]
    problems = _header_problems(header, where, lines[0], sample_rate, config_sha256, config_file)
    if problems:  # the events' samples mean nothing without a sound header
        raise ConfigError(problems)
    events = _log_events(
        records[1:],
        lines[1:],
        int(header["sample_rate"]),
        path,
        nodes=nodes,
        generators=generators,
        config_file=config_file,
    )
    return EventLog(header, events, [dict(r) for r in records[1:]])


def _read_log_lines(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The log's JSON objects and their lines, within the scene's size and count limits."""
    where = str(path)
    try:
        records, lines, problems, over = _read_records(
            path, MAX_SCENE_EVENTS + 1, "event log", _LIMIT_HINT
        )
    except UnreadableScene as err:
        cause = err.cause
        if isinstance(cause, UnicodeDecodeError):
            reason, hint = "not UTF-8 text", f"an event log is a JSONL text file; {_RECORD_HINT}"
        else:
            reason, hint = cause.strerror or str(cause), "check the path and its permissions"
        problem = Problem(where, 0, "", f"cannot read event log: {reason}", hint)
        raise ConfigError([problem]) from err
    if over:
        problems.append(
            Problem(
                where,
                over,
                "",
                f"event log has more than the limit of {MAX_SCENE_EVENTS:,} events",
                _LIMIT_HINT,
            )
        )
    if problems:
        raise ConfigError(problems)
    return records, lines


def _header_schema() -> dict[str, Any]:
    """The header's fields, with the config's own rules for rate, block size and seed."""
    config = config_schema()["properties"]
    samples = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "properties": {
            "sample_rate": config["sample_rate"],
            "block_size": config["block_size"],
            "seed": config["seed"],
            "frames": samples,
            "total_latency": samples,
            "config": {"type": ["string", "null"]},
            "config_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            "replayed_from": {"type": ["string", "null"]},
        },
        "required": ["sample_rate"],
    }


def _header_problems(
    header: Mapping[str, Any],
    file: str,
    line: int,
    sample_rate: int | None,
    config_sha256: str | None,
    config_file: str,
) -> list[Problem]:
    """Problems of the header line: format, fields, and whether it fits this config."""
    fmt = header["aers_event_log"]
    if isinstance(fmt, bool) or fmt != LOG_FORMAT:
        return [
            Problem(
                file,
                line,
                "aers_event_log",
                f"unsupported event log format {fmt!r}",
                f"this AERS reads format {LOG_FORMAT}; {_RECORD_HINT}",
            )
        ]
    problems = [
        Problem(file, line, key, "must be a finite number (NaN and infinity are not)")
        for key in non_finite_paths(dict(header), "")
    ]
    if problems:
        return problems
    problems = schema_problems(
        header, _header_schema(), file=file, base="", line_of=lambda _path: line
    )
    if problems:
        return problems
    rate = int(header["sample_rate"])
    if sample_rate is not None and rate != int(sample_rate):
        problems.append(
            Problem(
                file,
                line,
                "sample_rate",
                f"log recorded at {rate} Hz, config runs at {sample_rate} Hz",
                "replay with the config it was recorded from",
            )
        )
    longest = int(config_schema()["properties"]["duration"]["maximum"])  # seconds
    frames = header.get("frames")
    if frames is not None and frames > longest * rate:
        problems.append(
            Problem(
                file,
                line,
                "frames",
                f"{frames} is too large: a render lasts at most {longest * rate:,} samples",
                f"{longest // 3600:g} h at {rate} Hz",
            )
        )
    recorded = header.get("config_sha256")
    if config_sha256 is not None and recorded is not None and recorded != config_sha256:
        name = header.get("config")
        named = f" (the log names {name})" if isinstance(name, str) and name else ""
        this = config_file or "CONFIG"
        problems.append(
            Problem(
                file,
                line,
                "config_sha256",
                "log recorded from another config, or another version of it: "
                f"config_sha256 does not match {config_file or 'the config'}",
                f"a replay is bit-exact only with the config it was recorded from{named}: "
                f"replay with that file, or record a new log: aers events record {this} --out LOG",
            )
        )
    return problems


def _log_events(
    records: Sequence[Mapping[str, Any]],
    lines: Sequence[int],
    rate: int,
    path: Path,
    *,
    nodes: Collection[str] | None,
    generators: Mapping[str, EventGenerator] | None,
    config_file: str,
) -> list[Event]:
    """The log's event lines checked by the scene rules (:func:`parse_events`).

    A line's event fields become a scene event (``frames`` as a ``duration``: the scene's
    limit in samples); what happened (:data:`OUTCOME_FIELDS`) is checked on its own.
    """
    file = str(path)
    problems: list[Problem] = []
    raws: list[dict[str, Any]] = []
    lengths: list[int | None] = []
    bad_frames: set[int] = set()
    for index, (record, line) in enumerate(zip(records, lines, strict=True)):
        raw: dict[str, Any] = {}
        for key, value in record.items():
            if key in EVENT_LOG_FIELDS and key != "frames":
                raw[key] = value
            elif key not in EVENT_LOG_FIELDS and key not in OUTCOME_FIELDS:
                problems.append(_unknown_field(file, line, str(key)))
        frames = record.get("frames")
        length: int | None = None
        if frames is not None:
            message = _frames_problem(frames)
            if message:
                bad_frames.add(index)
                hint = ""
                if "at most" in message:
                    hint = f"{MAX_EVENT_FRAMES / rate:.0f} s at {rate} Hz: events are built whole"
                problems.append(Problem(file, line, "frames", message, hint))
            else:
                length = int(frames)
                raw["duration"] = length / rate
        raws.append(raw)
        lengths.append(length)
        outcome = {key: record[key] for key in OUTCOME_FIELDS if key in record}
        problems += _outcome_problems(outcome, file, line)
    try:
        events = parse_events(
            raws,
            rate,
            path.parent,
            file=file,
            lines=lines,
            nodes=nodes,
            generators=generators,
        )
    except ConfigError as err:
        for problem in err.problems:
            reworded = _log_wording(problem, lines, bad_frames, config_file)
            if reworded is not None:
                problems.append(reworded)
        events = []
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line))
    # The log's own length, exactly (``duration`` passed the schema as seconds).
    return [
        ev if length is None else replace(ev, duration=length)
        for ev, length in zip(events, lengths, strict=True)
    ]


def _outcome_problems(outcome: Mapping[str, Any], file: str, line: int) -> list[Problem]:
    """Problems of what a line says happened (types only: a replay does not use it)."""
    return [
        Problem(file, line, key, "must be a finite number (NaN and infinity are not)")
        for key in non_finite_paths(dict(outcome), "")
    ] or schema_problems(outcome, _OUTCOME_SCHEMA, file=file, base="", line_of=lambda _: line)


def _frames_problem(frames: Any) -> str:
    """Why ``frames`` is not an event length in samples ("" when it is one)."""
    if isinstance(frames, bool) or not isinstance(frames, int | float):
        return f"must be a whole number of samples, got {json.dumps(frames)}"
    if not math.isfinite(frames):
        return "must be a finite number (NaN and infinity are not)"
    if frames != int(frames):
        return f"must be a whole number of samples, got {frames}"
    if frames < 1:
        return f"{frames} is too small: an event lasts at least 1 sample"
    if frames > MAX_EVENT_FRAMES:
        return f"{frames} is too large: an event lasts at most {MAX_EVENT_FRAMES:,} samples"
    return ""


def _unknown_field(file: str, line: int, key: str) -> Problem:
    known = [*EVENT_LOG_FIELDS, *OUTCOME_FIELDS]
    if key in ("time", "duration"):
        hint = "an event log gives the start as `at` and the length as `frames`, in samples"
    else:
        hint = did_you_mean(key, known) or f"allowed: {', '.join(known)}"
    return Problem(file, line, key, "unknown field", hint)


_EVENT_PATH = re.compile(r"events\.(\d+)(?:\.(.*))?$")
_FIRST_USED = re.compile(r"first used by events\.(\d+)$")


def _log_wording(
    problem: Problem, lines: Sequence[int], bad_frames: set[int], config_file: str
) -> Problem | None:
    """A scene problem as a log line's: fields of the line, ``frames`` not ``duration``."""
    match = _EVENT_PATH.match(problem.path)
    if match is None:
        return problem
    index, path = int(match[1]), match[2] or ""
    message, hint = problem.message, problem.hint
    if path == "duration":
        if index in bad_frames:  # already said, in the log's terms
            return None
        path, hint = "frames", "give `frames`, the event's length in samples"
    if message.startswith("needs `at`"):
        path, message = "at", "is required (the event's start, in samples)"
    elif message.startswith("no `to`"):
        path, message, hint = "to", "is required (the node the event entered)", ""
    elif message.endswith("does not exist") and path == "to" and config_file:
        message = message.replace("does not exist", f"is not in {config_file}")
    first = _FIRST_USED.match(hint)
    if first is not None and int(first[1]) < len(lines):
        hint = f"first used on line {lines[int(first[1])]}"
    return replace(problem, path=path, message=message, hint=hint)


def path_offsets(
    edges: Iterable[tuple[str, str]],
    latency: Mapping[str, int],
    target: str,
    compensated: Mapping[str, int] | None = None,
    order: Sequence[str] = (),
    *,
    delays: Mapping[str, int] | None = None,
    pre_taps: Iterable[tuple[str, str]] = (),
) -> list[PathStep]:
    """Nodes downstream of ``target`` with input/output offsets relative to entering it.

    With plugin delay compensation every input of a mix point is aligned to the latest
    one, so a node's input offset is its arrival time in the whole graph minus the
    target's; ``compensated`` may pass the planner's own arrival times instead.

    Intended delays (a ``delay`` node's line) are not latency: the planner does not
    compensate them, so they shift the event's audio on the paths through that node
    only. A node's input offset is the *onset*: the earliest the event's audio reaches
    it over any path (a copy arriving later through a delay does not move it).

    Args:
        edges: ``(from, to)`` connections carrying the source's output.
        latency: node id → ``latency_samples`` (missing = 0).
        target: the node the event enters.
        compensated: node id → arrival offset of its input from the planner, if known.
        order: the planner's processing order, to list equal offsets in that order.
        delays: node id → the signal delay its output adds to an event's onset beyond
            its latency (missing = 0); see ``NodeTraits.onset_delay`` for ``delay`` nodes.
        pre_taps: ``(from, to)`` connections carrying the source's *input* (pre-fader
            sends): neither the source's latency nor its delay applies to them.

    Returns:
        ``(node, in_offset, out_offset)`` for the target and everything it feeds, in
        topological order.
    """
    tagged = [(a, b, False) for a, b in edges] + [(a, b, True) for a, b in pre_taps]
    forward_pairs = set(_forward_edges([(a, b) for a, b, _ in tagged], order))
    forward = [e for e in tagged if (e[0], e[1]) in forward_pairs]
    extra_delay = dict(delays or {})
    succ: dict[str, list[tuple[str, bool]]] = {}
    pred: dict[str, list[tuple[str, bool]]] = {}
    for a, b, pre in forward:
        succ.setdefault(a, []).append((b, pre))
        pred.setdefault(b, []).append((a, pre))
    arrival: dict[str, int] = dict(compensated or {})

    def arrive(node: str) -> int:
        if node not in arrival:
            ups = pred.get(node, [])
            arrival[node] = max(
                (arrive(u) + (0 if pre else latency.get(u, 0)) for u, pre in ups), default=0
            )
        return arrival[node]

    reached: list[str] = []
    stack, seen = [target], {target}
    while stack:
        node = stack.pop()
        reached.append(node)
        for nxt, _ in succ.get(node, []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    # How much later than the compensated timeline the event's onset reaches a node's
    # input: the smallest sum of intended delays over the paths from the target
    # (forward edges form a DAG: relax them in topological order, Kahn's algorithm).
    late: dict[str, int] = {target: 0}
    waiting = {n: sum(1 for u, _ in pred.get(n, []) if u in seen) for n in reached}
    ready = [target]
    while ready:
        node = ready.pop()
        for nxt, pre in succ.get(node, []):
            via = late[node] + (0 if pre else extra_delay.get(node, 0))
            late[nxt] = min(late.get(nxt, via), via)
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)

    base = arrive(target)
    steps = []
    for n in reached:
        t_in = arrive(n) - base + late[n]
        steps.append((n, t_in, t_in + latency.get(n, 0) + extra_delay.get(n, 0)))
    rank = {node: i for i, node in enumerate(order)}
    return sorted(steps, key=lambda s: (s[1], s[2], rank.get(s[0], len(rank)), s[0]))


def _forward_edges(edges: Sequence[tuple[str, str]], order: Sequence[str]) -> list[tuple[str, str]]:
    """Edges without the feedback ones (a loop's return carries no new arrival time).

    With the planner's ``order`` an edge is feedback when it does not point later in it;
    otherwise a depth-first search from the sources marks edges back onto its own stack.
    """
    if order:
        rank = {node: i for i, node in enumerate(order)}
        return [(a, b) for a, b in edges if rank.get(a, -1) < rank.get(b, len(rank))]
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str) -> None:
        state[node] = 1
        for nxt in succ.get(node, []):
            if state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                visit(nxt)
        state[node] = 2

    targets = {b for _, b in edges}
    for node in [a for a, _ in edges if a not in targets] + [a for a, _ in edges]:
        if node not in state:
            visit(node)
    return [e for e in edges if e not in back]
