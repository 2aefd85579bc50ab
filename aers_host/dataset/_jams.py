"""Scene annotations as JAMS files, and scenes regenerated from them.

One ``scaper`` annotation per output node lists every event, so tools that read Scaper
soundscapes (``label``, ``event_time``, ``event_duration``, ``role``) understand the file.
Beside Scaper's fields each value carries what regenerating the scene needs — the
event's ``id``, ``category``, ``at`` (its scheduled sample), ``frames`` (requested length,
or null for the source's natural length), ``gain_db``, ``pan``, ``source`` (generator
params with seed, or an absolute ``file``), ``to`` (routing target) and ``index`` (its
place in the scheduler's start order) — and what happened to it: ``end``, ``status``,
``stolen_by``, ``path`` (every node's in/out sample) and ``stem`` (its file).

Invariants:

* An observation's ``time`` is the sample the event first sounds on *in that output*
  (``at`` plus the path latency) in seconds, so labels line up with the audio;
  ``duration`` is the length actually played (after any voice stealing), clipped to the
  render. Events reaching the output only after the render ends are not listed: they
  cannot change a sample of it (a later voice only cuts voices from its own start on).
* :func:`scene_from_jams` rebuilds the scene from ``at``, ``frames``, sources and ``to``
  only, in ``index`` order: with the same config it renders bit-identically.
* ``sandbox.aers`` holds the config path, its SHA-256, sample rate, block size, seed
  and frame count; ``file_metadata.identifiers`` repeats the config path and rate.

Example:
    >>> jam = scene_jams(report, cfg, config_path=Path("demo.yaml"))    # doctest: +SKIP
    >>> jam.save("out/demo.jams")                                        # doctest: +SKIP
    >>> records = scene_from_jams(Path("out/demo.jams"))                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jams

from .. import __version__
from ..errors import ConfigError, Problem
from ..graph._sinks import OUTPUT

if TYPE_CHECKING:
    from ..config import GraphConfig
    from ._stems import StemsReport

#: The JAMS namespace of the annotations (Scaper's soundscape namespace).
NAMESPACE: Final = "scaper"
#: Format version of ``sandbox.aers``; a reader refuses another major version.
ANNOTATION_FORMAT: Final = 1
#: Categories written with Scaper's ``role: background``.
_BACKGROUND: Final = frozenset({"ambience"})


@contextmanager
def _jams_validation() -> Iterator[None]:
    """Silence the one deprecation jams 0.3.5 triggers in jsonschema ≥ 4 while validating.

    jams passes a sub-schema to ``Validator.iter_errors`` (deprecated in jsonschema 4.0);
    the validation itself is unaffected. Scoped to that message so nothing else hides.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Passing a schema to Validator.iter_errors", DeprecationWarning
        )
        yield


def save_jams(jam: jams.JAMS, path: Path) -> Path:
    """Validate ``jam`` strictly (schema and namespace) and write it to ``path``.

    Raises:
        jams.SchemaError: the document does not validate (a bug in the writer).
    """
    with _jams_validation():
        jam.save(str(path), strict=True)
    return path


def load_jams(path: Path) -> jams.JAMS:
    """Read and validate a JAMS file (schema and namespaces).

    Raises:
        ConfigError: the file cannot be read, is not JSON, or does not validate.
    """
    try:
        with _jams_validation():
            return jams.load(str(path), validate=True)
    except Exception as err:  # jams raises ParameterError, SchemaError, JSON and OS errors
        raise ConfigError([Problem(str(path), 0, "", f"cannot read JAMS: {err}")]) from err


def _arrival(entry: Mapping[str, Any], output: str) -> int | None:
    """Sample the event reaches ``output`` at (None: its audio never gets there)."""
    for step in entry.get("path") or ():
        if step["node"] == output:
            return int(step["in"])
    return None


def _value(entry: Mapping[str, Any], index: int, onset: float, seconds: float, stem: Any) -> Any:
    source = dict(entry["source"])
    value: dict[str, Any] = {
        "label": str(entry["category"]),
        "source_file": str(source.get("file", "")),
        "source_time": 0.0,
        "event_time": onset,
        "role": "background" if entry["category"] in _BACKGROUND else "foreground",
        "pitch_shift": None,
        "time_stretch": None,
    }
    if seconds > 0:
        value["event_duration"] = seconds
    value.update(
        id=entry["id"],
        index=index,
        category=entry["category"],
        at=int(entry["at"]),
        frames=entry.get("frames"),
        end=int(entry["end"]),
        status=entry["status"],
        stolen_by=entry.get("stolen_by"),
        gain_db=float(entry["gain_db"]),
        pan=float(entry["pan"]),
        source=source,
        to=entry["to"],
        path=list(entry.get("path") or ()),
        stem=stem,
    )
    return value


def scene_jams(
    report: StemsReport,
    config: GraphConfig,
    *,
    config_path: Path | None = None,
) -> jams.JAMS:
    """A JAMS document for a rendered scene: one ``scaper`` annotation per output.

    Args:
        report: what :func:`render_stems` returned (events, paths, stem files).
        config: the config the scene was rendered with.
        config_path: the config file (recorded with its SHA-256).
    """
    rate = report.sample_rate
    outputs = sorted({step["node"] for e in report.entries for step in e.get("path") or ()})
    outputs = [o for o in outputs if o in config.nodes and config.nodes[o].type == OUTPUT.name]
    jam = jams.JAMS()
    jam.file_metadata.duration = report.frames / rate
    jam.file_metadata.title = config_path.stem if config_path else Path(config.file).stem
    config_ref = str(config_path.resolve()) if config_path else config.file
    jam.file_metadata.identifiers = jams.Sandbox(aers_config=config_ref, sample_rate=rate)
    jam.sandbox.aers = {
        "format": ANNOTATION_FORMAT,
        "config": config_ref,
        "config_sha256": hashlib.sha256(config_path.read_bytes()).hexdigest()
        if config_path
        else None,
        "sample_rate": rate,
        "block_size": config.block_size,
        "seed": config.seed,
        "frames": report.frames,
        "total_latency": report.total_latency,
        "stems_mode": report.mode,
        "stems_root": report.root.name,
    }
    for output in outputs:
        ann = jams.Annotation(
            NAMESPACE,
            time=0.0,
            duration=report.frames / rate,
            annotation_metadata=jams.AnnotationMetadata(
                annotator={"tool": "aers", "version": __version__},
                annotation_tools="aers render --stems",
                data_source=f"output node {output!r}",
            ),
            sandbox=jams.Sandbox(aers_output=output),
        )
        for index, entry in enumerate(report.entries):
            arrival = _arrival(entry, output)
            if arrival is None or arrival >= report.frames:
                continue  # never reaches this output, or only after the render ends
            sounding = min(int(entry["end"]) - int(entry["at"]), report.frames - arrival)
            played = max(0, sounding) / rate
            files = report.event_files.get(str(entry["id"]), {})
            # post stems are per output; pre stems per target, one for every output
            stem = files.get(entry["to"] if report.mode == "pre" else output)
            ann.append(
                time=arrival / rate,
                duration=played,
                value=_value(entry, index, arrival / rate, played, stem),
                confidence=1.0,
            )
        jam.annotations.append(ann)
    return jam


def _aers_annotations(jam: jams.JAMS) -> list[jams.Annotation]:
    return [
        ann
        for ann in jam.annotations
        if ann.namespace == NAMESPACE and getattr(ann.sandbox, "aers_output", None) is not None
    ]


def scene_from_jams(path: Path, output: str | None = None) -> list[dict[str, Any]]:
    """Scene records (one per event, docs/events.md fields) rebuilt from an annotation.

    Args:
        path: a JAMS file written by :func:`scene_jams`.
        output: read only this output's annotation (the events that reach it); by
            default every annotation's events are merged, which is every event that
            can sound in any output.

    Returns:
        Records with ``at`` in samples and ``duration`` in seconds that round back to
        the original frame counts, in the scheduler's original start order.

    Raises:
        ConfigError: unreadable or invalid JAMS, another format major version, or no
            AERS annotation (for ``output``).
    """
    jam = load_jams(path)
    meta = dict(getattr(jam.sandbox, "aers", None) or {})
    if int(meta.get("format", -1)) != ANNOTATION_FORMAT:
        raise ConfigError(
            [
                Problem(
                    str(path),
                    0,
                    "sandbox.aers.format",
                    f"format {meta.get('format')!r} is not {ANNOTATION_FORMAT}",
                    "write it again with `aers render --stems`",
                )
            ]
        )
    anns = [a for a in _aers_annotations(jam) if output in (None, a.sandbox.aers_output)]
    if not anns:
        known = ", ".join(str(a.sandbox.aers_output) for a in _aers_annotations(jam)) or "none"
        raise ConfigError(
            [
                Problem(
                    str(path),
                    0,
                    "annotations",
                    f"no AERS annotation for output {output!r}",
                    f"outputs annotated: {known}",
                )
            ]
        )
    rate = int(meta["sample_rate"])
    by_id = {obs.value["id"]: obs.value for ann in anns for obs in ann.data}
    values = sorted(by_id.values(), key=lambda v: int(v["index"]))
    records = []
    for value in values:
        record: dict[str, Any] = {"id": value["id"], "category": value["category"]}
        record["at"] = int(value["at"])
        if value.get("frames") is not None:
            record["duration"] = int(value["frames"]) / rate
        record.update(
            gain_db=value["gain_db"], pan=value["pan"], source=value["source"], to=value["to"]
        )
        records.append(record)
    return records


def polyphony(values: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Most events of each category sounding at once, from annotation values.

    Intervals are ``[at, end)`` in samples (what actually played); an event ending on the
    sample another starts does not overlap it.
    """
    marks: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for value in values:
        if int(value["end"]) > int(value["at"]):
            marks[str(value["category"])] += [(int(value["at"]), 1), (int(value["end"]), -1)]
    peaks = {}
    for category, points in marks.items():
        level = peak = 0
        for _, step in sorted(points):  # at equal samples the end (-1) sorts first
            level += step
            peak = max(peak, level)
        peaks[category] = peak
    return peaks
