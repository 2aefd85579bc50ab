"""Timing modes and the record of substituted audio (see ``docs/architecture.md``, *Timing modes*).

One engine serves two clocks:

* **offline** (``aers render``, batch tasks, ``events record``, stems, Python ``render()``
  and ``Graph.process``): every sandboxed or remote node's result is waited for. Only a
  *hang limit* in seconds (:data:`DEFAULT_HANG_LIMIT_S`, node option ``hang_limit_s``,
  CLI ``--hang-limit``) abandons a block: the worker is restarted and the block retried
  once; only then does the node play its fallback. Machine load never changes the output.
* **real time** (``aers run``, ``aers serve``, live edits, JACK): each block has a
  wall-clock deadline; a late block plays the node's fallback and counts as an xrun.

Processors that talk to another process learn the mode through ``set_timing(timing)``
(called by the planner once the processor is created), and record every block they could
not produce in a :class:`SubstitutionLog`, so an offline render can say which samples
are not the graph's real output.

Example:
    >>> log = SubstitutionLog()
    >>> log.note(0, 512); log.note(512, 512); log.note(4096, 100)
    >>> log.to_dict()["ranges"], log.samples
    ([[0, 1024], [4096, 4196]], 1124)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

#: Default hang limit of offline renders: a block outstanding this long means a hang.
DEFAULT_HANG_LIMIT_S: Final = 10.0
#: Largest hang limit accepted (an hour: any longer is a render nobody waits for).
MAX_HANG_LIMIT_S: Final = 3600.0
#: Substituted ranges kept per node; later ones are still counted (``ranges_truncated``).
MAX_RANGES: Final = 256
#: How long before a paced block is due its loop wakes the engine's sleeping lane
#: workers (``Engine.prewake``; they then spin for longer than this lead and a late
#: wake-up of the loop itself).
PREWAKE_S: Final = 0.000_2


def sleep_until(due: float, prewake: Callable[[], None]) -> None:
    """[audio-thread, between blocks] Sleep until ``perf_counter()`` reaches ``due``.

    ``prewake`` runs :data:`PREWAKE_S` before, so a worker that must be woken for the
    block is awake when it comes.
    """
    early = due - PREWAKE_S - time.perf_counter()
    if early > 0:
        time.sleep(early)
    prewake()
    rest = due - time.perf_counter()
    if rest > 0:
        time.sleep(rest)


@dataclass(frozen=True, slots=True)
class Timing:
    """How nodes backed by another process wait for their results.

    Attributes:
        realtime: True: meet wall-clock deadlines and fall back; False: wait (offline).
        hang_limit_s: offline only: the run's hang limit, used by nodes whose own
            ``hang_limit_s`` option is unset (None: :data:`DEFAULT_HANG_LIMIT_S`).
    """

    realtime: bool
    hang_limit_s: float | None = None

    def __post_init__(self) -> None:
        limit = self.hang_limit_s
        if limit is not None and not 0.0 < limit <= MAX_HANG_LIMIT_S:
            raise ValueError(f"hang limit must be in (0, {MAX_HANG_LIMIT_S:g}] s, got {limit}")

    @property
    def mode(self) -> str:
        """``"realtime"`` or ``"offline"`` (the word metrics and messages use)."""
        return "realtime" if self.realtime else "offline"

    def hang_limit(self, node_limit: float | None) -> float:
        """The hang limit of a node whose own option is ``node_limit`` (None: unset)."""
        if node_limit is not None:
            return node_limit
        return self.hang_limit_s if self.hang_limit_s is not None else DEFAULT_HANG_LIMIT_S


#: Offline with the default hang limit.
OFFLINE: Final = Timing(realtime=False)
#: Real time: today's deadlines, fallback and xrun accounting.
REALTIME: Final = Timing(realtime=True)


class SubstitutionLog:
    """[audio-thread] Blocks of a node whose output was its fallback, not its processing.

    Contiguous blocks merge into one range; ranges live in a preallocated array, so
    :meth:`note` never allocates. Past :data:`MAX_RANGES` ranges, samples are still counted.

    Attributes:
        samples: substituted samples (frames) in total.
        blocks: substituted blocks.
        first: first substituted sample (-1: none).
    """

    __slots__ = ("_n", "_ranges", "blocks", "first", "samples", "truncated")

    def __init__(self) -> None:
        self._ranges = np.zeros((MAX_RANGES, 2), np.int64)
        self._n = 0
        self.samples = self.blocks = 0
        self.first = -1
        self.truncated = False

    def note(self, start: int, frames: int) -> None:
        """[audio-thread] Samples ``[start, start + frames)`` played the fallback."""
        self.samples += frames
        self.blocks += 1
        if self.first < 0:
            self.first = start
        n = self._n
        if n and self._ranges[n - 1, 1] == start:
            self._ranges[n - 1, 1] = start + frames
        elif n < MAX_RANGES:
            self._ranges[n, 0] = start
            self._ranges[n, 1] = start + frames
            self._n = n + 1
        else:
            self.truncated = True

    def merge(self, other: SubstitutionLog) -> SubstitutionLog:
        """[main-thread] A new log holding both logs' ranges, ordered, overlaps counted once."""
        both = np.concatenate([self._ranges[: self._n], other._ranges[: other._n]])
        merged = SubstitutionLog()
        reached = -1
        for begin, end in sorted(map(tuple, both.tolist())):
            begin = max(begin, reached)
            if end > begin:
                merged.note(begin, end - begin)
            reached = max(reached, end)
        merged.blocks = self.blocks + other.blocks
        if self.truncated or other.truncated:  # the ranges no longer hold every sample
            merged.truncated = True
            merged.samples = self.samples + other.samples
        firsts = [f for f in (self.first, other.first) if f >= 0]
        merged.first = min(firsts) if firsts else -1
        return merged

    def to_dict(self, sample_rate: int | None = None) -> dict[str, Any]:
        """[main-thread] The ``metrics.json`` entry: counts, first sample, ranges."""
        info: dict[str, Any] = {
            "samples": self.samples,
            "blocks": self.blocks,
            "first_sample": self.first,
            "ranges": [[int(a), int(b)] for a, b in self._ranges[: self._n]],
            "ranges_truncated": self.truncated,
        }
        if sample_rate:
            info["seconds"] = self.samples / sample_rate
        return info
