"""Sample-accurate event playback: render once, allocate voices once, add slices per block.

Invariants (what makes a render block-size invariant and replayable):

* Every event's source is rendered, gained and panned to its target's channel count in
  :meth:`EventScheduler.prepare` — never in the block loop.
* Voice limiting is decided in ``prepare`` too, on the event timeline itself: events are
  known in advance, so who steals whom depends only on sample positions, never on where
  block boundaries fall. A stolen voice fades over ``steal_fade`` frames from the exact
  sample where the new voice starts (0 = hard cut); the fade is baked into its audio.
* :meth:`EventScheduler.mix_into` only adds slices of those arrays into the engine's
  buffer (``numpy.add(..., out=view)`` per channel row): no array allocation per block,
  and each sample sums the same voices in the same order whatever the block size.

Example:
    >>> import numpy as np
    >>> from aers_host.events import Event
    >>> ev = Event("hit", "fx", 5, {"generator": "impulse", "seed": 1}, to="bus")
    >>> s = EventScheduler([ev], 48000, {"bus": 1}); s.prepare(4)
    >>> buf = np.zeros((1, 4), np.float32); s.mix_into("bus", buf, 4)
    >>> buf.tolist()
    [[0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..dsp import balance_gains, pan_gains
from ..errors import GraphError
from ..io import read_audio
from ._generators import BUILTIN_GENERATORS, EventGenerator
from ._model import Event

Steal = Literal["oldest", "quietest"]
Audio = npt.NDArray[np.float32]
#: (node id, offset of the node's input, offset of its output) relative to ``Event.at``.
PathStep = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class VoiceLimit:
    """How many events may sound at once on one target, and who gives way."""

    max_voices: int
    #: ``oldest``: the earliest-started voice stops. ``quietest``: the quietest of the
    #: sounding voices and the newcomer loses (a newcomer quieter than all is dropped).
    steal: Steal = "oldest"


@dataclass(slots=True)
class _Voice:
    event: Event
    order: int
    audio: Audio
    start: int
    end: int
    level_db: float
    status: str = "played"
    stolen_by: str = ""


@dataclass(slots=True)
class _Lane:
    """The voices of one target, sorted by start, with a monotonic read cursor."""

    voices: list[_Voice]
    starts: list[int] = field(default_factory=list)
    cursor: int = 0
    last_start: int = -1


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def pan_matrix(
    pan: float, gain_db: float, source_channels: int, channels: int
) -> npt.NDArray[np.float64]:
    """Mixing matrix ``(channels, source_channels)``: constant-power pan of a mono source.

    Mono targets ignore ``pan``. A stereo source on a stereo target gets the pan node's
    balance law (unity at centre); other layouts are downmixed to mono first (the caller
    averages the channels), then panned across the first two channels with the pan node's
    constant-power law — so an event panned here sounds like one through a ``pan`` node.
    """
    g = 10.0 ** (gain_db / 20.0)
    matrix = np.zeros((channels, source_channels))
    if channels == 1:
        matrix[0, :] = g / source_channels
    elif source_channels == channels == 2:
        left, right = balance_gains(pan)
        matrix[0, 0], matrix[1, 1] = g * left, g * right
    else:
        left, right = pan_gains(pan)
        matrix[0, :] = g * left / source_channels
        matrix[1, :] = g * right / source_channels
    return matrix


class EventScheduler:
    """Plays scene events into the engine's buffers, sample-accurately.

    The engine calls, per block and per target node, :meth:`mix_into` with the buffer the
    events enter (an ``events`` node's output, any other node's input) and the block's
    ``start``. All work that allocates happens in :meth:`prepare`.
    """

    def __init__(
        self,
        events: Sequence[Event],
        sample_rate: int,
        targets: Mapping[str, int],
        voice_limits: Mapping[str, VoiceLimit] | None = None,
        *,
        generators: Mapping[str, EventGenerator] | None = None,
        steal_fade: int = 64,
    ) -> None:
        """[main-thread] Check that every event has a target; render nothing yet.

        Args:
            events: the scene (from the config, a scene file, or a replayed log).
            sample_rate: graph rate in Hz.
            targets: node id → channel count of the buffer events are mixed into.
            voice_limits: node id → limit; targets without one are unlimited.
            generators: name → generator (defaults to the built-ins).
            steal_fade: frames over which a stolen voice fades out (0 = hard cut).

        Raises:
            GraphError: an event targets a node that is not in ``targets``.
        """
        missing = sorted({ev.to for ev in events if ev.to not in targets})
        if missing:
            raise GraphError(
                f"events target nodes that take no events: {', '.join(missing)} "
                f"(event targets: {', '.join(sorted(targets)) or 'none'})"
            )
        self.events = list(events)
        self.sample_rate = int(sample_rate)
        self.channels = dict(targets)
        self.voice_limits = dict(voice_limits or {})
        self.generators = generators if generators is not None else BUILTIN_GENERATORS
        self.steal_fade = int(steal_fade)
        self.max_block = 0
        self._lanes: dict[str, _Lane] = {}
        self._voices: list[_Voice] = []
        self._starts: list[int] = []
        self._ends: list[int] = []
        #: One past the last sample the engine pulled through :meth:`mix_into` since
        #: ``prepare``/``reset`` (-1: nothing rendered yet), for :meth:`log_entries`.
        self._rendered = -1

    def render_source(self, event: Event) -> npt.NDArray[np.float64]:
        """The event's source as ``(channels, frames)``, trimmed or padded to its duration.

        Raises:
            GraphError: the generator is unknown.
            AudioIOError: a file source cannot be read.
        """
        source = event.source
        if "file" in source:
            data, _ = read_audio(Path(str(source["file"])), self.sample_rate)
            audio = np.asarray(data, np.float64)
        else:
            gen = self.generators.get(str(source.get("generator")))
            if gen is None:
                raise GraphError(
                    f"event {event.id!r}: unknown generator {source.get('generator')!r}"
                )
            params = {k: v for k, v in source.items() if k not in ("generator", "seed")}
            mono = gen.generate(
                int(source.get("seed", 0)), self.sample_rate, event.duration, params
            )
            audio = np.asarray(mono, np.float64)[np.newaxis, :]
        if event.duration is not None and audio.shape[1] != event.duration:
            fitted = np.zeros((audio.shape[0], event.duration))
            n = min(event.duration, audio.shape[1])
            fitted[:, :n] = audio[:, :n]
            audio = fitted
        return audio

    def _bake(self, event: Event) -> Audio:
        """Source audio panned and gained for the target's channels, as float32."""
        src = self.render_source(event)
        channels = self.channels[event.to]
        if src.shape[0] > 1 and not (src.shape[0] == channels == 2):
            src = src.mean(axis=0, keepdims=True)
        matrix = pan_matrix(event.pan, event.gain_db, src.shape[0], channels)
        return np.ascontiguousarray(matrix @ src, dtype=np.float32)

    def prepare(self, max_block: int) -> None:
        """[main-thread & !active] Render every event, resolve voice stealing, index lanes.

        Raises:
            GraphError: an unknown generator.
            AudioIOError: an unreadable file source.
        """
        self.max_block = int(max_block)
        voices = []
        for order, ev in enumerate(self.events):
            audio = self._bake(ev)
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
            voices.append(_Voice(ev, order, audio, ev.at, ev.at + audio.shape[1], _db(rms)))
        voices.sort(key=lambda v: (v.start, v.order))
        self._lanes = {}
        for target in self.channels:
            lane_voices = [v for v in voices if v.event.to == target]
            limit = self.voice_limits.get(target)
            if limit is not None:
                self._limit(lane_voices, limit)
            played = [v for v in lane_voices if v.end > v.start]
            self._lanes[target] = _Lane(played, [v.start for v in played])
        self._voices = voices
        self._rendered = -1
        self._starts = sorted(v.start for v in voices if v.end > v.start)
        self._ends = sorted(v.end for v in voices if v.end > v.start)

    def _limit(self, voices: list[_Voice], limit: VoiceLimit) -> None:
        """Apply a voice limit on the timeline (start order), cutting or dropping voices."""
        active: list[_Voice] = []
        for voice in voices:
            active = [v for v in active if v.end > voice.start]
            if len(active) < limit.max_voices:
                active.append(voice)
                continue
            if limit.steal == "quietest":
                victim = min(active, key=lambda v: (v.level_db, v.start, v.order))
                if voice.level_db < victim.level_db:
                    voice.status, voice.end = "dropped", voice.start
                    continue
            else:
                victim = min(active, key=lambda v: (v.start, v.order))
            self._cut(victim, voice.start, voice.event.id)
            active.remove(victim)
            active.append(voice)

    def _cut(self, voice: _Voice, at: int, by: str) -> None:
        """Stop ``voice`` at absolute sample ``at`` with a baked linear fade."""
        keep = at - voice.start
        fade = max(0, min(self.steal_fade, voice.audio.shape[1] - keep))
        audio = voice.audio[:, : keep + fade].copy()
        if fade:
            ramp = 1.0 - np.arange(1, fade + 1, dtype=np.float64) / (fade + 1)
            audio[:, keep:] = (audio[:, keep:] * ramp).astype(np.float32)
        voice.audio, voice.end = audio, voice.start + keep + fade
        voice.status, voice.stolen_by = "stolen", by

    def targets(self) -> frozenset[str]:
        """Node ids that receive events (the engine calls :meth:`mix_into` for these)."""
        return frozenset(ev.to for ev in self.events)

    def mix_into(self, target: str, buf: Audio, start: int) -> None:
        """[audio-thread & processing] Add every voice overlapping ``[start, start+frames)``.

        Args:
            target: the node id.
            buf: ``(channels, frames)`` float32 view to add into, channels as declared.
            start: absolute sample index of ``buf[:, 0]``.
        """
        stop = start + buf.shape[1]
        if stop > self._rendered:
            self._rendered = stop
        lane = self._lanes.get(target)
        if lane is None:
            return
        if start < lane.last_start:  # a seek (session resume, rewind): rescan from the top
            lane.cursor = 0
        lane.last_start = start
        voices = lane.voices
        cursor = lane.cursor
        while cursor < len(voices) and voices[cursor].end <= start:
            cursor += 1
        lane.cursor = cursor
        for i in range(cursor, bisect_left(lane.starts, stop)):
            voice = voices[i]
            lo, hi = max(start, voice.start), min(stop, voice.end)
            if lo < hi:
                # Row by row: 1-D contiguous slices never make numpy's ufunc buffer a copy
                # (a 2-D add into a contiguous block view allocates a block-sized buffer).
                for c in range(buf.shape[0]):
                    view = buf[c, lo - start : hi - start]
                    np.add(view, voice.audio[c, lo - voice.start : hi - voice.start], out=view)

    def in_flight(self, start: int) -> int:
        """[any-thread] Number of voices sounding at sample ``start`` (all targets)."""
        return bisect_right(self._starts, start) - bisect_right(self._ends, start)

    def reset(self) -> None:
        """[main-thread] Rewind the read cursors (the rendered audio is kept)."""
        for lane in self._lanes.values():
            lane.cursor, lane.last_start = 0, -1
        self._rendered = -1

    def log_entries(
        self,
        paths: Mapping[str, Sequence[PathStep]] | None = None,
        *,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """One event-log record per event, in start order (see :mod:`._replay`).

        ``status`` is what the voice limits decided (``played``, ``stolen``, ``dropped``),
        or ``unplayed`` for an event starting at or after the end of the render: none of
        its audio was rendered, so it has no ``path`` (``[]``) and no ``peak_db``. A voice
        whose thief starts only after the end is ``played`` within the render.
        ``peak_db`` is the peak of what sounded inside the render (None if nothing did).

        Args:
            paths: target → the nodes its audio passes, with input/output offsets relative
                to ``at`` (from :func:`path_offsets`); default: the target alone.
            until: the end of the render (exclusive sample); default: as far as the engine
                pulled this scheduler through :meth:`mix_into` since ``prepare``/``reset``,
                or no limit when nothing was rendered yet (a log of the plan).

        Raises:
            RuntimeError: called before :meth:`prepare`.
        """
        if self.max_block == 0:
            raise RuntimeError("log_entries() needs prepare() first")
        if until is None and self._rendered >= 0:
            until = self._rendered
        starts = {v.event.id: v.start for v in self._voices}
        entries = []
        for voice in self._voices:
            steps = (paths or {}).get(voice.event.to) or [(voice.event.to, 0, 0)]
            entry = voice.event.to_record()
            if until is not None and voice.start >= until:
                entry.update(
                    end=voice.end,
                    status="unplayed",
                    stolen_by=None,
                    peak_db=None,
                    path=[],
                )
                entries.append(entry)
                continue
            frames = voice.end - voice.start
            if until is not None:
                frames = min(frames, until - voice.start)
            sounded = voice.audio[:, : max(frames, 0)]
            peak = float(np.max(np.abs(sounded))) if sounded.size else 0.0
            status, stolen_by = voice.status, voice.stolen_by or None
            if stolen_by is not None and until is not None and starts[stolen_by] >= until:
                status, stolen_by = "played", None  # the cut lies after the render's end
            entry.update(
                end=voice.end,
                status=status,
                stolen_by=stolen_by,
                peak_db=round(_db(peak), 3) if peak > 0 else None,
                path=[
                    {"node": node, "in": voice.start + din, "out": voice.start + dout}
                    for node, din, dout in steps
                ],
            )
            entries.append(entry)
        return entries
