"""The values an edit travels in: its ticket (what callers wait on) and the staged swap.

An :class:`EditTicket` is created by the thread that submits an edit and completed by the
audio thread when the edit goes live (``sample``, ``handover``, then ``done`` is set).
:class:`Swap` and :class:`Stage` hold what the audio thread installs; they are built
completely before being published, and never changed afterwards by the submitter.

Example:
    >>> t = EditTicket([{"op": "remove_node", "id": "a"}], "cli", 0, 0)
    >>> t.wait(0.0)
    -1
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import TypedDict  # pydantic checks journal entries in the feed's tests

from .._features import NodeHealth
from .._nodetype import NodeType
from .._processor import Processor
from ..config import GraphConfig
from ..graph import Engine
from ._transition import LinePairs, ParamChange

#: Called off the audio thread for every engine an edit prepares; its result travels with
#: the engine and becomes ``LiveGraph.extra`` when that engine goes live.
Prepare = Callable[[Engine, Mapping[str, NodeType]], Any]


class JournalEntry(TypedDict):
    """One applied edit in the journal (``GET /api/edits``, the feed's ``edited``)."""

    #: The author (``rest``, ``ws``, ``cli``, ``reload``, ``rollback``, ``undo``, ...).
    who: str
    ops: list[Mapping[str, object]]
    #: Absolute sample at which the edit took effect.
    sample: int
    #: The graph's total latency (samples) before and after.
    latency_before: int
    latency_after: int


@dataclass(slots=True)
class EditTicket:
    """The outcome of one edit: filled in by the audio thread when it takes effect."""

    ops: list[Mapping[str, Any]]
    who: str
    latency_before: int
    latency_after: int
    #: Absolute sample at which the edit took effect (set at the swap).
    sample: int = -1
    #: Node id → ``state`` (handed over), ``fresh`` (incompatible) or ``error: ...``.
    handover: dict[str, str] = field(default_factory=dict)
    #: Rebuilt nodes (plugin reload): id → the new processor, and its health when prepared.
    nodes: dict[str, Processor] = field(default_factory=dict)
    baseline: dict[str, NodeHealth] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self, timeout: float | None = None) -> int:
        """[any-thread] Block until the edit is live; return its sample index (-1 on timeout)."""
        self.done.wait(timeout)
        return self.sample


@dataclass(slots=True)
class Stage:
    """An engine ready to go live, with what travels with it."""

    engine: Engine
    extra: Any
    #: Compensation lines to carry over (old edge → new edge).
    lines: LinePairs
    #: (index in this engine's plan, index in the plan it replaces) of surviving nodes.
    carry: list[tuple[int, int]]


@dataclass(slots=True)
class Swap:
    ticket: EditTicket
    transition: Stage
    final: Stage
    config: GraphConfig
    registry: Mapping[str, NodeType]
    #: Samples the ramps wait for new processors to fill their latency.
    hold: int
    params: list[ParamChange]
    #: (node id, outgoing processor, incoming processor, the incoming one's state version).
    handover: list[tuple[str, Processor, Processor, object]]
