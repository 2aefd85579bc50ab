"""Per-event and per-bus stems that sum to the mix (``aers render --stems``).

The rule (docs/dataset.md §Stems), with the same config, seed and block size throughout:

1. render the mix with every event (the reference);
2. render the *bed*: the same graph with no event playing;
3. render each played event alone, with the bed silenced (every node no event reaches is
   muted), so the pass holds only that event's contribution;
4. a bus stem (one per event target) is the sum of its events' stems.

``bed + Σ event stems == mix`` then holds to float32 rounding when every node event audio
reaches is linear (:mod:`._linearity`). Both post modes also write
``residual.wav = mix - bed - Σ stems``, so ``bed + residual + Σ stems == mix`` always holds
for the files, and the residual's peak says how far the stems alone are from the mix:

* ``exact`` refuses nonlinear graphs *before rendering*, naming the nodes; its residual is
  rounding only, promised below :data:`TOLERANCE_DBFS` (the report says if it is not:
  the reverb's undenormalise step rounds to a fixed grid in its feedback loops, and with
  many events ringing it at once that adds up);
* ``residual`` accepts nonlinear graphs; the residual is their interaction;
* ``pre`` takes each event's audio where it enters the graph (its target's input): dry
  stems plus a bus file per target, which sum to that input by construction.

Layout (ids are unique node ids, so folders cannot collide; events get their own folder
because an event may be called ``bed``)::

    OUT/stems/stems.json                       manifest: files, levels, sum errors
    OUT/stems/<output-id>/bed.wav
    OUT/stems/<output-id>/residual.wav
    OUT/stems/<output-id>/events/<event-id>.wav
    OUT/stems/<output-id>/buses/<target-id>.wav
    OUT/stems-pre/<target-id>/events/<event-id>.wav, bus.wav, stems.json (pre mode)

Every file is 32-bit float WAV: PCM would round away the exactness being promised.
An exact-mode pass starts at the block holding the event's first sample (everything
before is silence in a linear graph with the bed muted) unless automation is present.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from .._json import dumps
from ..errors import ConfigError, Problem
from ..events import log_entries_for_plan, scheduler_for_config
from ..graph import check_fallback, render
from ..io import write_audio
from ._linearity import (
    NonlinearNode,
    NonlinearStemsError,
    event_reach,
    has_automation,
    nonlinear_nodes,
)
from ._voices import PlayedVoice, VoiceSource, played_voices

if TYPE_CHECKING:
    from .._nodetype import NodeType
    from ..config import GraphConfig
    from ..events import EventScheduler

StemMode = Literal["exact", "residual", "pre"]
#: What ``mode`` accepts.
STEM_MODES: Final = ("exact", "residual", "pre")
#: Largest sum error (peak of ``mix - bed - Σ stems``) the stems promise, in dBFS.
TOLERANCE_DBFS: Final = -120.0
_Sum = npt.NDArray[np.float64]


def peak_dbfs(audio: npt.NDArray[Any]) -> float | None:
    """Peak level in dBFS rounded to 0.01 dB; None for digital silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return round(20.0 * math.log10(peak), 2) if peak > 0 else None


@dataclass(slots=True)
class StemsReport:
    """What :func:`render_stems` wrote and measured."""

    mode: StemMode
    #: ``OUT/stems`` or ``OUT/stems-pre``.
    root: Path
    sample_rate: int
    frames: int
    total_latency: int
    #: Event-log records of the mix (status, end, per-node path samples).
    entries: list[dict[str, Any]]
    #: Nonlinear nodes on event paths (empty in a linear graph).
    nonlinear: list[NonlinearNode]
    #: event id → group (output or target id) → file path relative to ``OUT``.
    event_files: dict[str, dict[str, str]] = field(default_factory=dict)
    #: group → bed/residual/bus files and levels (see :meth:`manifest`).
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """The ``stems.json`` document."""
        return {
            "aers_stems": 1,
            "mode": self.mode,
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "total_latency": self.total_latency,
            "nonlinear": [dataclasses.asdict(n) for n in self.nonlinear],
            "tolerance_dbfs": TOLERANCE_DBFS,
            "worst_error_dbfs": self.worst_error_dbfs(),
            "residual_dbfs": self.residual_dbfs(),
            "within_tolerance": self.within_tolerance(),
            "events": self.event_files,
            "groups": self.groups,
        }

    def worst_error_dbfs(self) -> float | None:
        """Largest peak of ``mix - bed - residual - Σ stems`` (None: bit-exact, or pre)."""
        errors = [
            e
            for g in self.groups.values()
            for e in g.get("error_dbfs", {}).values()
            if e is not None
        ]
        return max(errors, default=None)

    def residual_dbfs(self) -> float | None:
        """Largest residual peak: how far ``bed + Σ stems`` alone is from the mix."""
        peaks = [g["residual_peak_dbfs"] for g in self.groups.values() if "residual" in g]
        return max((p for p in peaks if p is not None), default=None)

    def within_tolerance(self) -> bool:
        """True when the files sum to the mix within :data:`TOLERANCE_DBFS`.

        In ``exact`` mode the stems must do so without the residual too.
        """
        levels = [self.worst_error_dbfs()]
        if self.mode == "exact":
            levels.append(self.residual_dbfs())
        return all(level is None or level <= TOLERANCE_DBFS for level in levels)


@dataclass(slots=True)
class _Group:
    """Running sums of one output's stems (float64, of the float32 values written)."""

    folder: Path
    events: _Sum
    buses: dict[str, _Sum] = field(default_factory=dict)

    def add(self, target: str, audio: _Sum, start: int) -> None:
        self.events[:, start:] += audio
        bus = self.buses.get(target)
        if bus is None:
            bus = self.buses[target] = np.zeros_like(self.events)
        bus[:, start:] += audio


def render_stems(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    out_dir: Path,
    *,
    mode: StemMode = "exact",
    scheduler: EventScheduler | None = None,
    duration: float | None = None,
) -> StemsReport:
    """Render and write the stems of every event (see the module docstring for the rule).

    Args:
        config: the validated config.
        registry: node types.
        out_dir: the render's output folder (``stems/`` or ``stems-pre/`` goes inside).
        mode: ``exact``, ``residual`` or ``pre``.
        scheduler: the prepared scheduler the mix plays (default: the config's events).
        duration: seconds to render (else the config's).

    Returns:
        The report, whose :meth:`StemsReport.manifest` was written as ``stems.json``.

    Raises:
        ConfigError: the config has no events.
        NonlinearStemsError: ``exact`` mode on a graph whose event paths are nonlinear.
        GraphError: the graph cannot be built or rendered.
        AudioIOError: a stem cannot be written.
        FallbackAudioError: a node played fallback audio in one of the renders (offline,
            after its hang limit and one retry): stems are never made of fallback audio,
            whatever ``--allow-fallback`` says about the mix.
    """
    if mode not in STEM_MODES:
        raise ValueError(f"unknown stem mode {mode!r}; choose one of {', '.join(STEM_MODES)}")
    if scheduler is None:
        scheduler = scheduler_for_config(config, registry)
    if scheduler is None:
        raise ConfigError(
            [Problem(config.file, 0, "events", "no events to make stems of", "add `events:`")]
        )
    targets = scheduler.targets()
    nonlinear = nonlinear_nodes(config, registry, targets)
    if mode == "exact" and nonlinear:
        raise NonlinearStemsError(config.file, nonlinear)
    scheduler.reset()
    mix = render(
        config,
        registry,
        out_dir=None,
        duration=duration,
        events=scheduler,
        event_targets=targets,
        capture=True,
    )
    check_fallback(mix.plan, mix.substituted, allowed=False)
    report = StemsReport(
        mode=mode,
        root=out_dir / ("stems-pre" if mode == "pre" else "stems"),
        sample_rate=config.sample_rate,
        frames=mix.frames,
        total_latency=mix.plan.total_latency,
        entries=log_entries_for_plan(scheduler, mix.plan),
        nonlinear=nonlinear,
    )
    # voices that sound inside the render (a dropped voice has no frames)
    voices = [v for v in played_voices(scheduler) if v.audio.shape[1] and v.start < mix.frames]
    if mode == "pre":
        _write_pre(report, voices, out_dir)
    else:
        _write_post(report, config, registry, targets, voices, mix.captured, out_dir)
    report.root.mkdir(parents=True, exist_ok=True)
    (report.root / "stems.json").write_text(
        dumps(report.manifest(), indent=2) + "\n", encoding="utf-8"
    )
    return report


def _silence_bed(
    config: GraphConfig, registry: Mapping[str, NodeType], reach: frozenset[str]
) -> GraphConfig:
    """The config with every non-sink node that no event reaches muted."""
    nodes = {
        node_id: spec
        if node_id in reach or registry[spec.type].role == "sink"
        else dataclasses.replace(spec, options={**spec.options, "mute": True})
        for node_id, spec in config.nodes.items()
    }
    return dataclasses.replace(config, nodes=nodes)


def _pass(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    targets: frozenset[str],
    voices: Sequence[PlayedVoice],
    frames: int,
    start: int = 0,
) -> dict[str, npt.NDArray[np.float32]]:
    """Captured outputs of one render of ``voices`` over ``[start, frames)``."""
    result = render(
        config,
        registry,
        out_dir=None,
        duration=(frames - start) / config.sample_rate,
        events=VoiceSource(voices),
        event_targets=targets,
        capture=True,
        start=start,
    )
    check_fallback(result.plan, result.substituted, allowed=False)
    return result.captured


def _write(out_dir: Path, path: Path, audio: npt.NDArray[Any], rate: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, np.asarray(audio, np.float32), rate)
    return str(path.relative_to(out_dir))


def _write_post(
    report: StemsReport,
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    targets: frozenset[str],
    voices: Sequence[PlayedVoice],
    mixes: Mapping[str, npt.NDArray[np.float32]],
    out_dir: Path,
) -> None:
    """Steps 2-4 of the rule for every output event audio reaches."""
    rate, frames = config.sample_rate, report.frames
    reach = event_reach(config, targets)
    outputs = [o for o in mixes if o in reach]
    bed = _pass(config, registry, targets, [], frames)
    muted = _silence_bed(config, registry, reach)
    window = report.mode == "exact" and not has_automation(config)
    groups = {o: _Group(report.root / o, np.zeros(mixes[o].shape, np.float64)) for o in outputs}
    for voice in voices:
        start = voice.start // config.block_size * config.block_size if window else 0
        captured = _pass(muted, registry, targets, [voice], frames, start)
        files = report.event_files.setdefault(voice.event.id, {})
        for output, group in groups.items():
            part = captured[output]
            full = np.zeros(mixes[output].shape, np.float32)
            full[:, start:] = part
            path = group.folder / "events" / f"{voice.event.id}.wav"
            files[output] = _write(out_dir, path, full, rate)
            group.add(voice.event.to, part.astype(np.float64), start)
    for output, group in groups.items():
        mix = mixes[output].astype(np.float64)
        bed64 = bed[output].astype(np.float64)
        entry: dict[str, Any] = {
            "bed": _write(out_dir, group.folder / "bed.wav", bed[output], rate),
            "mix_peak_dbfs": peak_dbfs(mix),
        }
        residual32 = (mix - bed64 - group.events).astype(np.float32)
        entry["residual"] = _write(out_dir, group.folder / "residual.wav", residual32, rate)
        entry["residual_peak_dbfs"] = peak_dbfs(residual32)
        residual = residual32.astype(np.float64)
        buses32 = {t: s.astype(np.float32) for t, s in group.buses.items()}
        entry["buses"] = {
            t: _write(out_dir, group.folder / "buses" / f"{t}.wav", s, rate)
            for t, s in buses32.items()
        }
        bus_sum = sum((s.astype(np.float64) for s in buses32.values()), np.zeros_like(mix))
        entry["error_dbfs"] = {
            "events": peak_dbfs(mix - bed64 - residual - group.events),
            "buses": peak_dbfs(mix - bed64 - residual - bus_sum),
        }
        report.groups[output] = entry


def _write_pre(report: StemsReport, voices: Sequence[PlayedVoice], out_dir: Path) -> None:
    """Dry stems at each event's target, and one bus file per target."""
    rate, frames = report.sample_rate, report.frames
    buses: dict[str, _Sum] = {}
    for voice in voices:
        target = voice.event.to
        full = np.zeros((voice.audio.shape[0], frames), np.float32)
        n = min(frames, voice.end) - voice.start
        full[:, voice.start : voice.start + n] = voice.audio[:, :n]
        path = report.root / target / "events" / f"{voice.event.id}.wav"
        report.event_files.setdefault(voice.event.id, {})[target] = _write(
            out_dir, path, full, rate
        )
        bus = buses.setdefault(target, np.zeros(full.shape, np.float64))
        bus += full
    for target, bus in buses.items():
        report.groups[target] = {
            "bus": _write(out_dir, report.root / target / "bus.wav", bus, rate),
            "bus_peak_dbfs": peak_dbfs(bus),
        }
