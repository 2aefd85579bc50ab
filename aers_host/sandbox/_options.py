"""Node options a plugin node honours, what a worker needs per plugin, and the failure window.

Options come from the config beside ``params`` (``CheckContext.node_options``):

=====================  ============================================================
``isolation``          ``per-instance`` (one worker per node; ``sandbox`` is an alias),
                       ``per-plugin`` (one worker per plugin name and version),
                       ``shared`` (one worker per signing key; the default for Python
                       plugins, :func:`worker_default`) or ``in-process``;
                       overrides the manifest's choice. See :mod:`._scope`. Native
                       (AERS ABI) nodes default to ``in-process``, LV2 nodes to
                       ``per-instance``; the node option moves either.
``fallback``           ``bypass`` (default) or ``silence``: what the node outputs for a
                       block it cannot produce (late, crashed, NaN, failed).
``deadline_ms``        per-block wait for the worker; default 50 % of the block period.
``max_failures``       failures (crash, hang, exception) within ``failure_window_s``
                       that mark the node failed for the rest of the run (default 3 / 10 s);
                       failures of a fresh worker (start-up, ``set_state``, first block)
                       count whatever their spacing, so restarts always end.
``hang_timeout_ms``    real time: a block outstanding this long means the worker hangs and
                       is restarted (default max(250 ms, 20 deadlines)).
``hang_limit_s``       offline: a block outstanding this long means the worker hangs; it
                       is restarted and the block retried once (default: the run's
                       ``--hang-limit``, else 10 s; see :mod:`aers_host._timing`).
``memory_mb``          address space a worker may add to its start-up size (default 512).
``cpu_seconds``        CPU-time limit of one worker incarnation (default 3600).
``start_timeout_s``    time a worker has to start and load (default 10).
``state_every_s``      how often the worker snapshots plugin state for restarts (0.25).
=====================  ============================================================
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .._timing import MAX_HANG_LIMIT_S
from ..errors import PluginValidationError

Fallback = Literal["bypass", "silence"]
_FALLBACKS: Final = ("bypass", "silence")
_ISOLATIONS: Final = ("sandbox", "per-instance", "per-plugin", "shared", "in-process")
#: Where a Python plugin node runs when neither its config nor its manifest says more than
#: "in a worker" (docs/plugins.md section 10): with the other nodes its key signed.
DEFAULT_WORKER_ISOLATION: Final = "shared"


def worker_default(requested: str) -> str:
    """[main-thread] The isolation a node gets when its config names none.

    A manifest can only say ``sandbox`` ("in a worker") or ``in-process`` (granted only on
    the user's trust). "In a worker" means the key's shared worker: a key is the unit of
    trust, so nodes one key signed may share a fate, and a shared worker lets the planner
    fuse a chain of them into one wake-up per block. A node's ``isolation: per-instance``
    (or ``sandbox``) in the config still gets it a worker of its own.
    """
    return DEFAULT_WORKER_ISOLATION if requested == "sandbox" else requested


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """Validated per-node sandbox options (see the module docstring)."""

    isolation: str
    fallback: Fallback
    deadline_s: float
    max_failures: int
    failure_window_s: float
    hang_timeout_s: float
    #: Offline hang limit of this node (None: the run's, see :class:`~aers_host._timing.Timing`).
    hang_limit_s: float | None
    memory_mb: int
    cpu_seconds: int
    start_timeout_s: float
    state_every_s: float

    @classmethod
    def parse(
        cls, options: Mapping[str, Any], isolation: str, sample_rate: int, block_size: int, who: str
    ) -> NodeOptions:
        """[main-thread] Validate ``options``; ``isolation`` is the manifest's default.

        Raises:
            PluginValidationError: an option has the wrong type or value.
        """

        def number(key: str, default: float, low: float) -> float:
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
                raise PluginValidationError(
                    who, f"node option {key}={value!r} must be a number >= {low}"
                )
            return float(value)

        chosen = options.get("isolation", isolation)
        if chosen not in _ISOLATIONS:
            raise PluginValidationError(
                who, f"isolation must be one of {_ISOLATIONS}, got {chosen!r}"
            )
        fallback = options.get("fallback", "bypass")
        if fallback not in _FALLBACKS:
            raise PluginValidationError(
                who, f"fallback must be one of {_FALLBACKS}, got {fallback!r}"
            )
        period = block_size / sample_rate if sample_rate > 0 else 0.01
        deadline = number("deadline_ms", 500.0 * period, 0.01) / 1000.0
        hang = number("hang_timeout_ms", max(250.0, 20_000.0 * deadline), 1.0) / 1000.0
        limit = options.get("hang_limit_s")
        if limit is not None:
            limit = number("hang_limit_s", 0.0, 0.001)
            if limit > MAX_HANG_LIMIT_S:
                raise PluginValidationError(
                    who, f"node option hang_limit_s={limit:g} must be <= {MAX_HANG_LIMIT_S:g}"
                )
        return cls(
            isolation=str(chosen),
            fallback=fallback,
            deadline_s=deadline,
            max_failures=int(number("max_failures", 3, 1)),
            failure_window_s=number("failure_window_s", 10.0, 0.0),
            hang_timeout_s=max(hang, deadline),
            hang_limit_s=limit,
            memory_mb=int(number("memory_mb", 512, 16)),
            cpu_seconds=int(number("cpu_seconds", 3600, 1)),
            start_timeout_s=number("start_timeout_s", 10.0, 0.1),
            state_every_s=number("state_every_s", 0.25, 0.001),
        )


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One plugin of a worker's chain, as the worker needs it."""

    name: str
    filename: str
    class_name: str
    source: bytes
    params: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    fallback: str
    latency_samples: int = 0
    #: Which loader the worker uses (``python``, ``native``, ``lv2``; see ``._stages``).
    kind: str = "python"
    #: JSON the kind's loader needs (native kinds: memfd number, sha256, entry symbol…).
    loader: Mapping[str, Any] = field(default_factory=dict)
    #: Descriptors the worker must inherit (the sealed library memfds).
    fds: tuple[int, ...] = ()


class FailureWindow:
    """Counts failures and says when ``max_failures`` fell within ``window_s`` seconds.

    Attributes:
        failed: True once the limit was reached; never reset during a run.
        reason: the failure that tipped it (or the last one seen).
    """

    def __init__(self, max_failures: int, window_s: float) -> None:
        self._times: deque[float] = deque(maxlen=max_failures)
        self._window = window_s
        self._max = max_failures
        #: Failures since a worker last answered a block (each on a fresh worker).
        self._streak = 0
        self.failed = False
        self.reason = ""
        self.count = 0

    def refuse(self, reason: str) -> None:
        """[main-thread] Fail the node now, before it ran: its plugin was refused at load."""
        self.failed = True
        self.reason = reason

    def blame(self, reason: str) -> None:
        """[any-thread] Record why the node fell back without counting it against the node.

        Used for nodes co-hosted with a culprit: the crash was not theirs.
        """
        self.reason = reason

    def fail(self, reason: str) -> None:
        """[any-thread] Fail the node now (an offline block failed again after its retry)."""
        self.count += 1
        self.failed = True
        self.reason = reason

    def answered(self) -> None:
        """[any-thread] A worker answered a block: it is no longer fresh."""
        self._streak = 0

    def note(self, reason: str, *, fresh: bool = False) -> bool:
        """[any-thread] Record one failure; return True if the node is now failed.

        Args:
            reason: what happened, for messages.
            fresh: the worker had not answered a block yet (it failed starting, restoring
                state, or on its first block). ``max_failures`` such failures in a row fail
                the node however far apart they are: a plugin that hangs in ``set_state``
                on every restart is restarted ``max_failures`` times, not forever.
        """
        now = time.monotonic()
        self._times.append(now)
        self.count += 1
        self.reason = reason
        if fresh:
            self._streak += 1
        if len(self._times) == self._times.maxlen and now - self._times[0] <= self._window:
            self.failed = True
        if self._streak >= self._max:
            self.failed = True
        return self.failed
