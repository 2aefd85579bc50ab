"""Parameter automation: breakpoint envelopes and NumPy arrays become sample-exact events.

A :class:`Lane` is a sorted list of (absolute sample, value) changes for one parameter,
computed once before the render; per block the engine takes the changes that fall inside
it as :class:`ParamEvent` offsets, so a change at sample 1000 acts on sample 1000 whatever
the block size.

Envelopes (config ``automation:`` or :meth:`Lane.from_envelope`) are lists of points
``[time_seconds, value]`` or ``[time_seconds, value, curve]`` (or mappings with ``time`` or
``at`` in samples). A point's ``curve`` says how the value travels *to* it from the previous
point: ``step`` (jumps at the point's time, the default for the first point), ``linear`` or
``exp`` (geometric, for frequencies and gains in linear units). Ramps are written as one
change every ``interval`` samples (:data:`RAMP_INTERVAL`, 16 by default: 3000 updates a
second at 48 kHz, far below a smoother's time constant) plus the exact end point.

Example:
    >>> lane = Lane.from_envelope("gain_db", [[0, -12], [0.001, 0, "linear"]], 48000)
    >>> [(int(s), round(float(v), 2)) for s, v in zip(lane.samples[:3], lane.values[:3])]
    [(0, -12.0), (16, -8.0), (32, -4.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._processor import ParamEvent

#: Samples between the updates of a linear or exponential ramp.
RAMP_INTERVAL = 16
CURVES = ("step", "linear", "exp")


@dataclass(frozen=True, slots=True)
class Point:
    """One breakpoint: ``value`` reached at absolute sample ``at`` along ``curve``."""

    at: int
    value: float
    curve: str = "linear"


def parse_point(raw: Any, sample_rate: int) -> Point:
    """A point from ``[time, value(, curve)]`` or ``{time|at, value, curve}``.

    Raises:
        ValueError: with a message naming what is wrong.
    """
    if isinstance(raw, Mapping):
        if "at" in raw:
            at = int(raw["at"])
        elif "time" in raw:
            at = round(float(raw["time"]) * sample_rate)
        else:
            raise ValueError("a point needs `time` (seconds) or `at` (samples)")
        value, curve = raw.get("value"), raw.get("curve", "linear")
    elif isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) in (2, 3):
        at = round(float(raw[0]) * sample_rate)
        value, curve = raw[1], raw[2] if len(raw) == 3 else "linear"
    else:
        raise ValueError("a point is [time, value] or [time, value, curve]")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"value must be a number, got {value!r}")
    if curve not in CURVES:
        raise ValueError(f"curve {curve!r} is not one of {', '.join(CURVES)}")
    if at < 0:
        raise ValueError("time must not be negative")
    return Point(at, float(value), str(curve))


@dataclass(slots=True)
class Lane:
    """Sample-exact parameter changes for one parameter of one node."""

    param: str
    samples: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    cursor: int = 0

    @classmethod
    def from_points(
        cls, param: str, points: Sequence[Point], interval: int = RAMP_INTERVAL
    ) -> Lane:
        """Discretise breakpoints (already in samples) into changes.

        Raises:
            ValueError: points out of order, or an ``exp`` segment through zero or a sign change.
        """
        samples: list[int] = []
        values: list[float] = []
        previous: Point | None = None
        for point in points:
            if previous is not None and point.at < previous.at:
                raise ValueError("points must be in time order")
            if previous is not None and point.curve != "step" and point.at > previous.at:
                ramp = np.arange(previous.at + interval, point.at, interval, dtype=np.int64)
                fraction = (ramp - previous.at) / (point.at - previous.at)
                if point.curve == "exp":
                    if previous.value * point.value <= 0:
                        raise ValueError("an exp segment needs two non-zero values of one sign")
                    ramped = previous.value * (point.value / previous.value) ** fraction
                else:
                    ramped = previous.value + (point.value - previous.value) * fraction
                samples.extend(int(s) for s in ramp)
                values.extend(float(v) for v in ramped)
            samples.append(point.at)
            values.append(point.value)
            previous = point
        return cls(param, np.asarray(samples, np.int64), np.asarray(values, np.float64))

    @classmethod
    def from_envelope(
        cls, param: str, raw_points: Sequence[Any], sample_rate: int, interval: int = RAMP_INTERVAL
    ) -> Lane:
        """A lane from config-style points (seconds or samples).

        Raises:
            ValueError: a malformed point or segment.
        """
        return cls.from_points(param, [parse_point(p, sample_rate) for p in raw_points], interval)

    @classmethod
    def from_array(cls, param: str, values: npt.ArrayLike, *, hop: int = 1, start: int = 0) -> Lane:
        """A lane from one value per ``hop`` samples (``hop=1``: audio rate).

        Only changes become events, so a mostly constant audio-rate array stays cheap.

        Raises:
            ValueError: not a finite 1-D array, or a hop below 1.
        """
        array = np.asarray(values, np.float64)
        if array.ndim != 1 or not np.all(np.isfinite(array)):
            raise ValueError("automation values must be a finite 1-D array")
        if hop < 1:
            raise ValueError("hop must be at least 1 sample")
        keep = np.ones(len(array), bool)
        keep[1:] = array[1:] != array[:-1]
        index = np.flatnonzero(keep)
        return cls(param, (start + index * hop).astype(np.int64), array[index])

    def emit(self, start: int, end: int, out: list[ParamEvent]) -> None:
        """[audio-thread] Append the changes in ``[start, end)`` as block-relative events."""
        samples, i = self.samples, self.cursor
        count = len(samples)
        while i < count and samples[i] < end:
            out.append(
                ParamEvent(max(0, int(samples[i]) - start), self.param, float(self.values[i]))
            )
            i += 1
        self.cursor = i

    def take(self, end: int, least: int) -> tuple[int, int] | None:
        """[audio-thread] Take the changes before ``end`` when there are ``least`` or more.

        Returns their index range and moves the cursor past them (as :meth:`emit` would);
        None, moving nothing, when there are fewer.
        """
        first = self.cursor
        stop = int(np.searchsorted(self.samples, end, side="left"))
        if stop - first < least:
            return None
        self.cursor = stop
        return first, stop

    def seek(self, position: int) -> None:
        """[main-thread] Skip every change before ``position`` (resume, loop)."""
        self.cursor = int(np.searchsorted(self.samples, position, side="left"))
