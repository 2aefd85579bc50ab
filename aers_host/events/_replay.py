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

Example:
    >>> path_offsets([("ev", "bus"), ("bus", "out")], {"bus": 64}, "bus")
    [('bus', 0, 64), ('out', 64, 64)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Problem
from ._model import Event
from ._scene import read_jsonl
from ._scheduler import PathStep

LOG_FORMAT = 1


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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_event_log(path: Path, sample_rate: int | None = None) -> EventLog:
    """Read a log written by :func:`write_event_log`.

    Args:
        path: the JSONL log.
        sample_rate: the config's rate; a log recorded at another rate is refused.

    Raises:
        ConfigError: unreadable file, missing/unknown header, malformed event line, or a
            sample-rate mismatch.
    """
    records, lines = read_jsonl(path)
    where = str(path)
    if not records or records[0].get("aers_event_log") is None:
        raise ConfigError(
            [
                Problem(
                    where,
                    lines[0] if lines else 0,
                    "",
                    "not an AERS event log",
                    "record one with `aers events record CONFIG --out LOG`",
                )
            ]
        )
    header = records[0]
    if header["aers_event_log"] != LOG_FORMAT or "sample_rate" not in header:
        raise ConfigError(
            [
                Problem(
                    where,
                    lines[0],
                    "aers_event_log",
                    f"unsupported event log format {header['aers_event_log']!r}",
                )
            ]
        )
    if sample_rate is not None and int(header["sample_rate"]) != int(sample_rate):
        raise ConfigError(
            [
                Problem(
                    where,
                    lines[0],
                    "sample_rate",
                    f"log recorded at {header['sample_rate']} Hz, config runs at {sample_rate} Hz",
                    "replay with the config it was recorded from",
                )
            ]
        )
    events: list[Event] = []
    problems: list[Problem] = []
    for record, line in zip(records[1:], lines[1:], strict=True):
        try:
            events.append(Event.from_record(record))
        except (KeyError, TypeError, ValueError) as err:
            problems.append(Problem(where, line, "", f"malformed event line: {err!r}"))
    if problems:
        raise ConfigError(problems)
    return EventLog(header, events, [dict(r) for r in records[1:]])


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
            its latency (missing = 0); see :func:`onset_delay` for ``delay`` nodes.
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


def onset_delay(samples: int, mix: float) -> int:
    """Samples a ``delay`` node moves an event's *first* sample by (its latency is 0).

    With ``mix = 1`` (the default) only the wet signal leaves the node, so the onset
    leaves ``samples`` later. With any dry share (``mix < 1``) the event's audio leaves
    at once, the echo follows ``samples`` later: the onset is the dry one, delay 0.

    Example:
        >>> onset_delay(100, 1.0), onset_delay(100, 0.5), onset_delay(0, 1.0)
        (100, 0, 0)
    """
    return int(samples) if mix >= 1.0 else 0


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
