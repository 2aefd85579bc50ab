"""The scheduler's voices as they were mixed, and an event source that plays a chosen few.

A stem pass must play one event exactly as the full mix played it: with its gain, pan,
channel layout and any voice-stealing cut (with its fade) already baked in. The
scheduler decides all of that once in ``prepare``; :func:`played_voices` reads the
result, and :class:`VoiceSource` mixes a subset of it into the engine's buffers with the
same float32 additions :meth:`EventScheduler.mix_into` uses.

Example:
    >>> voices = played_voices(scheduler)                               # doctest: +SKIP
    >>> solo = VoiceSource([v for v in voices if v.event.id == "boom-1"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .._processor import Buffer
    from ..events import Event, EventScheduler


@dataclass(frozen=True, slots=True)
class PlayedVoice:
    """One event's audio as mixed into its target: ``(channels, frames)`` from ``start``."""

    #: The scheduled event.
    event: Event
    #: Absolute sample of ``audio[:, 0]`` (the event's ``at``).
    start: int
    #: Gained, panned, cut audio in the target's channel layout (float32).
    audio: Buffer
    #: ``played``, ``stolen`` (cut short, audio ends at the cut) or ``dropped`` (no audio).
    status: str

    @property
    def end(self) -> int:
        """One past the last sample this voice sounds on."""
        return self.start + int(self.audio.shape[1])


def played_voices(scheduler: EventScheduler) -> list[PlayedVoice]:
    """Every voice of a prepared scheduler, in start order (dropped ones with no frames).

    This reads the scheduler's private voice list: the events package offers no public
    accessor yet (the hook asked for is ``EventScheduler.voices()`` returning exactly this).

    Raises:
        RuntimeError: the scheduler was not prepared.
    """
    raw: Sequence[Any] | None = getattr(scheduler, "_voices", None)
    if raw is None or scheduler.max_block == 0:
        raise RuntimeError("played_voices() needs a prepared EventScheduler")
    voices = []
    for voice in raw:
        frames = max(0, int(voice.end) - int(voice.start))
        audio = np.ascontiguousarray(voice.audio[:, :frames], dtype=np.float32)
        voices.append(PlayedVoice(voice.event, int(voice.start), audio, str(voice.status)))
    return voices


class VoiceSource:
    """An ``EventSource`` playing a fixed set of baked voices (a solo or a bus group)."""

    def __init__(self, voices: Sequence[PlayedVoice]) -> None:
        """[main-thread] Group the voices by target, in the order given.

        Args:
            voices: what to play; voices without frames are ignored.
        """
        self._lanes: dict[str, list[PlayedVoice]] = {}
        for voice in voices:
            if voice.audio.shape[1]:
                self._lanes.setdefault(voice.event.to, []).append(voice)

    def mix_into(self, target: str, buf: Buffer, start: int) -> None:
        """[audio-thread & processing] Add the voices of ``target`` over the block.

        Args:
            target: the node id.
            buf: ``(channels, frames)`` float32 view to add into.
            start: absolute sample index of ``buf[:, 0]``.
        """
        stop = start + buf.shape[1]
        for voice in self._lanes.get(target, ()):
            lo, hi = max(start, voice.start), min(stop, voice.end)
            if lo < hi:
                for c in range(buf.shape[0]):  # row by row, as the scheduler adds
                    view = buf[c, lo - start : hi - start]
                    np.add(view, voice.audio[c, lo - voice.start : hi - voice.start], out=view)
