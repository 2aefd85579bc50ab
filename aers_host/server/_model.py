"""Values that cross threads: controls in, acks, event notices and snapshots out.

All are frozen: the audio thread builds them once and hands them over by reference
(a deque append or a reference swap), so no reader ever sees one half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Action = Literal["bypass", "mute", "solo", "param"]


@dataclass(frozen=True, slots=True)
class Control:
    """A change requested by a client; ``origin`` and ``req`` travel back in the ack."""

    action: Action
    node: str
    value: float | bool
    param: str = ""
    req: int | str | None = None
    origin: object = None


@dataclass(frozen=True, slots=True)
class EditRequest:
    """A WebSocket ``edit`` message past the version check (its ops are checked later)."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ack:
    """A control that took effect on the first sample of the block starting at ``sample``."""

    control: Control
    sample: int
    loop: int


@dataclass(frozen=True, slots=True)
class Notice:
    """A scene event starting or stopping at ``sample`` (scene time, pass ``loop``)."""

    kind: Literal["start", "stop"]
    event: str
    category: str
    to: str
    sample: int
    loop: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the feed shows: everything measured since the previous snapshot."""

    seq: int
    sample: int
    loop: int
    blocks: int
    peak: list[F64]
    rms: list[F64]
    node_us_mean: F64
    node_us_max: F64
    block_us_last: float
    block_us_mean: float
    block_us_max: float
    engine_cpu: float
    process_cpu: float
    xruns: int
    in_flight: int
    flags: tuple[tuple[bool, bool, bool, bool], ...]
    #: Node ids, in the order of every per-node field (the plan the snapshot was taken on).
    ids: tuple[str, ...] = ()
    #: Per metered sink (plan index): momentary LUFS, short-term LUFS (None until their
    #: window is full) and true peak dBTP since the previous snapshot.
    loudness: dict[int, tuple[float | None, float | None, float]] = field(default_factory=dict)
