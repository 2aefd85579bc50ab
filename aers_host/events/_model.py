"""Scene events (docs/events.md): the value object, and parsing with located errors.

Invariants:

* ``Event.at`` is an integer sample index. A ``time`` in seconds is converted exactly once,
  ``round(time * sample_rate)``, here — nothing downstream sees seconds.
* ``Event.duration`` is a frame count or None (the source's natural length).
* ``Event.source`` always carries an explicit ``seed`` for generators (derived from the id
  when the scene gives none) and an absolute ``file`` path, so an event log written from
  parsed events replays bit-exactly wherever it is read.
* Parsing reports every bad event at once, each located as ``file:line: events.3.time``.

Example:
    >>> [ev] = parse_events([{"id": "a", "category": "fx", "time": 0.5, "to": "bus",
    ...                       "source": {"generator": "impulse"}}], 48000, Path("."))
    >>> ev.at, ev.source["seed"] > 0
    (24000, True)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._hints import did_you_mean
from .._seeds import derive_seed
from ..config._schema import non_finite_paths
from ..errors import ConfigError, Problem
from ._generators import BUILTIN_GENERATORS, EventGenerator
from ._schema import load_event_schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@cache
def _validator() -> Draft202012Validator:
    """The jsonschema validator, built once (the schema is static) when first needed."""
    import jsonschema

    return jsonschema.Draft202012Validator(load_event_schema())


#: jsonschema interprets the schema for every event: ~0.2 ms per valid one, 25 s for a
#: 100 000-event scene. fastjsonschema compiles the same schema into Python code once
#: (~15 ms; then ~15 µs per event); it decides "valid?", and jsonschema runs only for the
#: events it rejects, to word their problems (tests hold the two verdicts equal). Below
#: this many events interpreting costs less than compiling: a config's own ``events:``
#: list (``aers validate`` of the demo) never compiles.
FAST_CHECK_FROM = 64


@cache
def _fast_validate() -> Callable[[Any], Any]:
    """The compiled check (see :data:`FAST_CHECK_FROM`), compiled on first use."""
    import fastjsonschema

    return fastjsonschema.compile(load_event_schema())


def _surely_valid(raw: Any) -> bool:
    """True when the event passes the schema (False: let jsonschema say why not)."""
    import fastjsonschema

    try:
        _fast_validate()(raw)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


#: Longest event, in frames. Each event's audio is built whole before the render, so that
#: voice stealing and replay never depend on block boundaries; building it peaks near
#: 60 bytes a frame (FFT-shaped noise), so this bound (~11.6 min at 48 kHz) keeps one
#: event under ~2 GB instead of letting a day-long one exhaust memory mid-render.
MAX_EVENT_FRAMES = 1 << 25


@dataclass(frozen=True, slots=True)
class Event:
    """One scheduled sound: what plays, where it enters the graph, and on which sample."""

    #: Unique id within the scene (log lines and markers refer to it).
    id: str
    #: ``footsteps``, ``dialogue``, ``explosion``, ``ambience`` or any word.
    category: str
    #: Absolute sample index of the event's first frame.
    at: int
    #: ``{generator, seed, ...params}`` or ``{file: ABSOLUTE_PATH}``.
    source: Mapping[str, Any] = field(hash=False)
    #: Length in frames; None plays the source's natural length.
    duration: int | None = None
    #: Level applied to the source, in dB.
    gain_db: float = 0.0
    #: Constant-power pan, -1 (left) … 1 (right); ignored for mono targets.
    pan: float = 0.0
    #: Node whose input receives the audio (an ``events`` node: its output).
    to: str = ""

    def to_record(self) -> dict[str, Any]:
        """JSON form with the start in samples (the replay/scene line of this event)."""
        record: dict[str, Any] = {"id": self.id, "category": self.category, "at": self.at}
        if self.duration is not None:
            record["frames"] = self.duration
        record.update(gain_db=self.gain_db, pan=self.pan, source=dict(self.source), to=self.to)
        return record


@dataclass(slots=True)
class _Reporter:
    """Collects problems for one list of events, locating each by index and line."""

    file: str
    prefix: str
    lines: Sequence[int] | None
    problems: list[Problem] = field(default_factory=list)

    def add(self, index: int, rel: str, message: str, hint: str = "") -> None:
        line = self.lines[index] if self.lines is not None and index < len(self.lines) else 0
        path = ".".join(p for p in (self.prefix, str(index), rel) if p)
        self.problems.append(Problem(self.file, line, path, message, hint))


def _schema_problems(index: int, raw: Any, rep: _Reporter, compiled: bool) -> bool:
    """Report schema violations of one event with readable messages; True when valid.

    ``compiled``: ask the compiled check first (long lists, see :data:`FAST_CHECK_FROM`).
    """
    ok = True
    for path in non_finite_paths(raw, ""):  # NaN passes every minimum/maximum
        ok = False
        rep.add(index, path, "must be a finite number (NaN and infinity are not)")
    if not ok:
        return ok
    if compiled and _surely_valid(raw):
        return True
    errors = _validator().iter_errors(raw)
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        ok = False
        rel = ".".join(str(p) for p in err.absolute_path)
        inst = err.instance
        if err.validator == "oneOf" and isinstance(inst, dict):
            pair = ("generator", "file") if rel.endswith("source") else ("at", "time")
            both = all(k in inst for k in pair)
            rep.add(
                index,
                rel,
                f"give either `{pair[0]}` or `{pair[1]}`, not both"
                if both
                else f"needs `{pair[0]}` or `{pair[1]}`",
            )
        elif err.validator == "additionalProperties" and isinstance(inst, dict):
            allowed = list(err.schema.get("properties", {}))
            for key in (k for k in inst if k not in allowed):
                rep.add(
                    index,
                    ".".join(p for p in (rel, key) if p),
                    "unknown field",
                    did_you_mean(key, allowed) or f"allowed: {', '.join(allowed)}",
                )
        elif err.validator == "pattern":
            rep.add(
                index,
                rel,
                f"{inst!r} is not a word",
                "start with a letter; then letters, digits, _ or -",
            )
        elif err.validator == "required":
            rep.add(index, rel, err.message.replace("is a required property", "is required"))
        else:
            rep.add(index, rel, err.message)
    return ok


def _check_source(
    index: int,
    ev: Mapping[str, Any],
    sample_rate: int,
    base_dir: Path,
    generators: Mapping[str, EventGenerator],
    rep: _Reporter,
    seed: int,
) -> dict[str, Any]:
    """Semantic source checks; returns the source with seed or absolute path filled in.

    A generated source without its own ``seed`` gets one derived from the event id and the
    config's top-level ``seed``.
    """
    source = dict(ev["source"])
    if "file" in source:
        path = Path(str(source["file"])).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            rep.add(index, "source.file", f"file not found: {path}")
        source["file"] = str(path.resolve())
        return source
    name = str(source["generator"])
    gen = generators.get(name)
    if gen is None:
        rep.add(
            index,
            "source.generator",
            f"unknown generator {name!r}",
            did_you_mean(name, generators) or f"known: {', '.join(sorted(generators))}",
        )
        return source
    natural = getattr(gen, "natural_seconds", None)
    if "duration" not in ev and callable(natural) and natural(source) is None:
        rep.add(
            index,
            "duration",
            f"generator {name!r} has no natural end",
            "give a duration in seconds",
        )
    freq = source.get("freq")
    if isinstance(freq, int | float) and freq >= sample_rate / 2:
        rep.add(index, "source.freq", f"{freq:g} Hz is not below Nyquist ({sample_rate / 2:g} Hz)")
    source.setdefault("seed", derive_seed(str(ev["id"]), seed))
    return source


def _target(
    index: int,
    ev: Mapping[str, Any],
    routing: Mapping[str, str],
    default_target: str | None,
    nodes: Collection[str] | None,
    rep: _Reporter,
) -> str:
    """The event's node: explicit ``to``, else the category's route, else the default."""
    if "to" in ev:
        to, rel = str(ev["to"]), "to"
    elif ev["category"] in routing:
        to, rel = str(routing[ev["category"]]), "category"
    elif default_target:
        return default_target
    else:
        category = ev["category"]
        rep.add(
            index,
            "to",
            f"no `to` and no route for category {category!r}",
            f"add `to: NODE` or `routing: {{{category}: NODE}}`",
        )
        return ""
    if nodes is not None and to not in nodes:
        rep.add(index, rel, f"target node {to!r} does not exist", did_you_mean(to, nodes))
    return to


def routing_problems(
    routing: Mapping[str, str],
    nodes: Collection[str],
    file: str,
    lines: Mapping[str, int] | None = None,
) -> list[Problem]:
    """One problem per ``routing`` rule whose target is not one of ``nodes``.

    ``lines`` maps ``routing.CATEGORY`` to its line in ``file`` when the loader knows it.
    """
    return [
        Problem(
            file,
            (lines or {}).get(f"routing.{category}", 0),
            f"routing.{category}",
            f"target node {node!r} does not exist",
            did_you_mean(node, nodes),
        )
        for category, node in routing.items()
        if node not in nodes
    ]


def parse_events(
    raw: Sequence[Any],
    sample_rate: int,
    base_dir: Path,
    routing: Mapping[str, str] | None = None,
    *,
    file: str = "",
    lines: Sequence[int] | None = None,
    prefix: str = "events",
    nodes: Collection[str] | None = None,
    default_target: str | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
    check_routing: bool = True,
    seed: int = 0,
) -> list[Event]:
    """Validate raw event dicts and convert them to :class:`Event` values.

    Args:
        raw: the ``events:`` list (or a scene file's records).
        sample_rate: graph rate; ``time`` and ``duration`` seconds become samples with it.
        base_dir: folder relative ``source.file`` paths resolve against.
        routing: category → node id, used for events without ``to``.
        file: file name for messages.
        lines: 1-based line of each event (index-aligned), when the loader knows them.
        prefix: path prefix of messages (``events`` gives ``events.3.time``).
        nodes: the graph's node ids, to check targets (None skips the check).
        default_target: node for events with neither ``to`` nor a route.
        generators: name → generator; defaults to the built-ins.
        check_routing: report ``routing`` targets that are not ``nodes`` (off for a
            caller that checks them once itself, with their lines: :func:`routing_problems`).
        seed: the config's top-level ``seed``; generated sources without their own seed
            derive theirs from it and the event id.

    Returns:
        The events in input order.

    Raises:
        ConfigError: with one located problem per bad field, for all events at once.
    """
    gens: Mapping[str, EventGenerator] = (
        generators if generators is not None else BUILTIN_GENERATORS
    )
    routes = routing or {}
    rep = _Reporter(file, prefix, lines)
    events: list[Event] = []
    first_seen: dict[str, int] = {}
    compiled = len(raw) >= FAST_CHECK_FROM
    for index, ev in enumerate(raw):
        event_id = ev.get("id") if isinstance(ev, dict) else None
        if isinstance(event_id, str) and event_id in first_seen:
            rep.add(
                index,
                "id",
                f"duplicate id {event_id!r}",
                f"first used by {prefix}.{first_seen[event_id]}".lstrip("."),
            )
        if isinstance(event_id, str):
            first_seen.setdefault(event_id, index)
        if not _schema_problems(index, ev, rep, compiled):
            continue
        source = _check_source(index, ev, sample_rate, base_dir, gens, rep, seed)
        to = _target(index, ev, routes, default_target, nodes, rep)
        at = int(ev["at"]) if "at" in ev else round(float(ev["time"]) * sample_rate)
        seconds = ev.get("duration")
        frames = None if seconds is None else max(1, round(float(seconds) * sample_rate))
        if frames is not None and frames > MAX_EVENT_FRAMES:
            rep.add(
                index,
                "duration",
                f"{float(seconds):g} s is {frames:,} frames, over the limit of "
                f"{MAX_EVENT_FRAMES:,} ({MAX_EVENT_FRAMES / sample_rate:.0f} s at "
                f"{sample_rate} Hz): each event's audio is built whole before the render",
                "split it into several shorter events",
            )
            continue
        events.append(
            Event(
                id=str(ev["id"]),
                category=str(ev["category"]),
                at=at,
                source=source,
                duration=frames,
                gain_db=float(ev.get("gain_db", 0.0)),
                pan=float(ev.get("pan", 0.0)),
                to=to,
            )
        )
    if nodes is not None and check_routing:
        rep.problems += routing_problems(routes, nodes, file)
    if rep.problems:
        raise ConfigError(rep.problems)
    return events
