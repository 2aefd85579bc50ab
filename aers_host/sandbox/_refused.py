"""RefusedProcessor: the node of a plugin refused before any of its code could run.

A Python plugin the sandbox compiler refuses (``import`` of a forbidden module is refused
later, by the restricted importer), or whose in-process module raises while loading, is
not an error that stops the run: like a plugin that keeps failing while processing, its
node is *failed* — from the start. The refused code is never run (again): this processor
holds no plugin object, no worker and no compiled code, only the reason and the fallback.

What the engine and the metrics see is the same as for any failed plugin node: every block
is the node's fallback (``bypass`` copies the input when the shapes match, else silence;
``silence``), ``fallback_blocks`` counts them, ``failed`` is True and ``failure_reason``
is the refusal's one-line message.

Example:
    >>> import numpy as np
    >>> p = RefusedProcessor("n1", "plugin 'p.py': refused by the sandbox compiler: ...")
    >>> p.prepare(48000, 4, 1)
    >>> out = np.zeros((1, 4), np.float32)
    >>> p.process(np.ones((1, 4), np.float32), out, 0, ())
    >>> p.failed, float(out[0, 0]), p.fallback_blocks
    (True, 1.0, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._features import FailureCounters, HoldsResources, LogsSubstitutions, ReportsValues
from .._processor import Buffer, ParamEvent
from .._timing import SubstitutionLog
from ._runtime import apply_fallback


def one_line(reason: str) -> str:
    """``reason`` on one line (a plugin's exception text may hold several)."""
    return "; ".join(line.strip() for line in reason.splitlines() if line.strip()) or "refused"


class RefusedProcessor(FailureCounters, HoldsResources, LogsSubstitutions, ReportsValues):
    """[main-thread] A plugin node whose plugin was refused at load: fallback for the run.

    Args:
        label: the node id.
        reason: why the plugin was refused (reported as ``failure_reason``).
        fallback: ``bypass`` or ``silence``.
        params: the node's parameter values (kept so its state still round-trips).
    """

    #: Nothing is delayed: the fallback is the input itself (or silence).
    latency_samples: int = 0

    def __init__(
        self,
        label: str,
        reason: str,
        fallback: str = "bypass",
        params: Mapping[str, float] | None = None,
    ) -> None:
        self.label = label
        self.reason = one_line(reason)
        self.fallback = fallback
        self.params = dict(params or {})
        self.xruns = self.nan_blocks = self.restarts = self.errors = self.fallback_blocks = 0
        #: Every block this node outputs is its fallback.
        self.substitutions = SubstitutionLog()
        self.fences: dict[str, str] = {}
        self.closed = False

    @property
    def values(self) -> Mapping[str, float]:
        """[any-thread] The node's parameter values (the plugin never ran)."""
        return self.params

    @property
    def failed(self) -> bool:
        """[any-thread] Always True: the node never runs its plugin."""
        return True

    @property
    def failure_reason(self) -> str:
        """[any-thread] The refusal, as one line."""
        return self.reason

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Nothing to allocate: the fallback needs no buffer."""

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] The node's fallback, counted."""
        self.fallback_blocks += 1
        self.substitutions.note(start, out.shape[1])
        apply_fallback(self.fallback, inp, out)

    def reset(self) -> None:
        """[main-thread] Nothing to clear."""

    def get_state(self) -> dict[str, Any]:
        """[main-thread] The parameter values (the plugin never ran, so it has no state)."""
        return {"params": dict(self.params)}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread] Keep the parameter values, so saving a session loses nothing."""
        self.params.update({str(k): float(v) for k, v in dict(state.get("params", {})).items()})

    def close(self) -> None:
        """[main-thread] Nothing to release; idempotent."""
        self.closed = True
