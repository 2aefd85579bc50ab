"""Scene event start/stop notices, emitted by the block that contains their sample.

The scheduler knows every voice in advance (after voice stealing), so the table of
starts and stops is built once; per block the track only advances a cursor.

Example:
    >>> track = NoticeTrack(None, None)
    >>> bool(track)
    False
"""

from __future__ import annotations

import collections
from typing import Any, Literal

from ._model import Notice
from ._wire import SceneVoice

_Row = tuple[Literal["start", "stop"], str, str, str]


class NoticeTrack:
    """Sorted event starts/stops of a scene with a read cursor (audio thread only)."""

    def __init__(self, events: Any, plan: Any) -> None:
        """[main-thread] Build the table from a prepared scheduler (None: no events)."""
        self.samples: list[int] = []
        self.rows: list[_Row] = []
        #: Start sample of each row's event (a stop row's event may have started).
        self.starts: list[int] = []
        self.cursor = 0
        if events is None:
            return
        from ..events import log_entries_for_plan

        table: list[tuple[int, _Row, int]] = []
        for entry in log_entries_for_plan(events, plan):
            if entry.get("status") == "dropped":
                continue
            info = (str(entry["id"]), str(entry["category"]), str(entry["to"]))
            at = int(entry["at"])
            table.append((at, ("start", *info), at))
            table.append((int(entry["end"]), ("stop", *info), at))
        table.sort(key=lambda r: r[0])
        self.samples = [r[0] for r in table]
        self.rows = [r[1] for r in table]
        self.starts = [r[2] for r in table]

    def __bool__(self) -> bool:
        return bool(self.samples)

    def scene(self, limit: int) -> list[SceneVoice]:
        """[any-thread] The scene's voices, in start order: id, category, to, start, end.

        At most ``limit`` (the first ones): a client draws the scene's timeline from it.
        """
        voices = sorted(
            (at, end, event_id, category, to)
            for (kind, event_id, category, to), at, end in zip(
                self.rows, self.starts, self.samples, strict=True
            )
            if kind == "stop"
        )
        return [
            {"id": event_id, "category": category, "to": to, "at": at, "end": end}
            for at, end, event_id, category, to in voices[:limit]
        ]

    def emit(self, lo: int, hi: int, loop: int, out: collections.deque[Notice]) -> None:
        """[audio-thread] Append the notices with ``lo <= sample < hi`` to ``out``."""
        samples, i = self.samples, self.cursor
        while i < len(samples) and samples[i] < hi:
            if samples[i] >= lo:
                kind, event_id, category, to = self.rows[i]
                out.append(Notice(kind, event_id, category, to, samples[i], loop))
            i += 1
        self.cursor = i

    def cut(self, sample: int, loop: int, out: collections.deque[Notice]) -> None:
        """[audio-thread] The pass ends at ``sample``: stop every event still sounding there.

        Without this an event that outlasts the loop point would start on every pass and
        never stop in the feed; its stop notice carries the loop point's sample.
        """
        samples = self.samples
        for i in range(self.cursor, len(samples)):
            kind, event_id, category, to = self.rows[i]
            if kind == "stop" and self.starts[i] < sample:
                out.append(Notice("stop", event_id, category, to, sample, loop))

    def rewind(self) -> None:
        """[audio-thread] Back to the scene's start (a new pass)."""
        self.cursor = 0
