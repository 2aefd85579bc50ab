"""Optional processor features, declared: health, worker, resources, timing, and the rest.

Every processor implements ``Processor`` (``_processor``). Some do more, and say so by
subclassing the protocols here, so the engine, metrics, the feed, fallback reports and
hot-reload probation test ``isinstance`` instead of probing attribute names (a renamed
counter is then a type error, not a silent zero):

* :class:`ReportsHealth` — can fail while running (sandboxed and worker-hosted plugins:
  Python, native, LV2; in-process and refused plugins; remote nodes): one ``health()``
  call returns a consistent :class:`NodeHealth` snapshot; read it with :func:`health_of`.
* :class:`RunsInWorker` — its code runs in a worker process (per-worker CPU accounting).
* :class:`HoldsResources` — holds a worker, native handle or connection: the plan calls
  ``close()`` when it is done with it (:func:`close_if_held`).
* :class:`FollowsTiming` — behaves differently offline and in real time (deadlines):
  the planner calls ``set_timing()`` before ``prepare()``.
* :class:`LogsSubstitutions` — records the blocks it replaced by its fallback itself.
* :class:`ReportsValues` — keeps its own running parameter values (plugin nodes), which
  the dashboard shows instead of the config's.
* :class:`WaitsElsewhere` — waits each block on a worker process or a peer, off the GIL:
  the branch planner runs such nodes beside each other, and keeps the nodes of one
  shared worker on one thread.
* :class:`RendersChanges` — renders many changes of some parameters in one call
  (``CHANGE_PARAMS``, ``process_changes``): dense automation of them costs no Python call
  per change.
* :class:`KnowsLength` — a source that can end by itself (a file): once prepared it says
  how many frames it plays, which a render without a duration lasts.
* :class:`TakesSidechain` — keyed from a side-chain buffer the engine fills
  (``port: sidechain`` connections).

Built-in DSP processors implement none of the first seven: they cannot fail, hold nothing
and are exact in both timing modes. Some declare the last three. No feature is tested
inside the block loop: what the loop needs (the change parameters) is resolved when the
plan is built.

Invariants:

* ``health()`` is ``[any-thread]``: it reads counters the audio thread writes (plain ints,
  updated whole), allocates one small frozen object and takes no lock. It is for reports,
  never called inside the block loop.
* A processor that does not implement :class:`ReportsHealth` is healthy: :data:`HEALTHY`.

Example:
    >>> class Flaky:
    ...     def health(self) -> NodeHealth:
    ...         return NodeHealth(failed=True, failure_reason="worker died", restarts=3)
    >>> isinstance(Flaky(), ReportsHealth), health_of(Flaky()).restarts, health_of(object()).failed
    (True, 3, False)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ._processor import Buffer
    from ._timing import SubstitutionLog, Timing


class RttStats(TypedDict):
    """Round trips of audio blocks to a remote node, in microseconds."""

    p50: float
    p99: float
    max: float
    count: int


class RemoteStats(TypedDict):
    """A remote node's network figures (``metrics.json``'s ``nodes.*.remote``, docs/remote.md)."""

    url: str
    rtt_us: RttStats
    late_blocks: int
    dropped_blocks: int
    reconnects: int
    late_arrivals: int
    connected: bool


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """One processor's failure counters at one instant (all cumulative since it was built)."""

    #: True once the node plays its fallback for good.
    failed: bool = False
    #: Why it failed, or the last failure seen; "" when none.
    failure_reason: str = ""
    #: Worker restarts.
    restarts: int = 0
    #: Blocks that missed their real-time deadline (0 offline).
    xruns: int = 0
    #: Blocks whose output held NaN/Inf.
    nan_blocks: int = 0
    #: Blocks in which the plugin raised.
    errors: int = 0
    #: Blocks output as the fallback for any reason.
    fallback_blocks: int = 0
    #: Network figures of a remote node; None for every other kind.
    remote: RemoteStats | None = None


#: What a processor that reports nothing is.
HEALTHY: Final = NodeHealth()


@runtime_checkable
class ReportsHealth(Protocol):
    """A processor that can fail while running and counts how (see the module docstring)."""

    def health(self) -> NodeHealth:
        """[any-thread] A snapshot of the counters."""
        ...


@runtime_checkable
class RunsInWorker(Protocol):
    """A processor whose code runs in a worker process of its own (or shared)."""

    @property
    def worker_pid(self) -> int | None:
        """[any-thread] The OS pid of the worker serving it now; None while it has none."""
        ...


@runtime_checkable
class HoldsResources(Protocol):
    """A processor holding a worker, native handle or connection until it is closed."""

    def close(self) -> None:
        """[main-thread & !active] Release what it holds; calling it again does nothing."""
        ...


@runtime_checkable
class FollowsTiming(Protocol):
    """A processor whose behaviour differs offline (wait) and in real time (deadlines)."""

    def set_timing(self, timing: Timing) -> None:
        """[main-thread & !active] Offline or real time, before ``prepare``."""
        ...


@runtime_checkable
class LogsSubstitutions(Protocol):
    """A processor that records the blocks it output as its fallback."""

    #: The blocks replaced, for ``metrics.json``'s ``substituted`` and offline exit codes.
    substitutions: SubstitutionLog


@runtime_checkable
class ReportsValues(Protocol):
    """A processor that keeps the running values of its declared parameters."""

    @property
    def values(self) -> Mapping[str, float]:
        """[any-thread] Parameter name → value now (config values and every change since)."""
        ...


@runtime_checkable
class WaitsElsewhere(Protocol):
    """A processor that waits each block for a worker process or a peer, off the GIL."""

    @property
    def waits_on(self) -> object | None:
        """[main-thread] What it waits on; None while it waits on nothing (refused).

        A sandboxed node returns its worker link, one object for every node that worker
        hosts (they share its fate and stay on one thread); a node that owns its
        connection (remote) returns itself.
        """
        ...


@runtime_checkable
class RendersChanges(Protocol):
    """A processor that renders the changes of some parameters within a block in one call."""

    #: The parameters :meth:`process_changes` takes; dense automation of any other is
    #: split into one ``process`` call per change (exact, but a Python call each).
    CHANGE_PARAMS: ClassVar[frozenset[str]]

    def process_changes(
        self,
        inp: Buffer,
        out: Buffer,
        start: int,
        param: str,
        at: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """[audio-thread & processing] ``process``; ``param`` is ``values[k]`` from ``at[k]`` on."""
        ...


@runtime_checkable
class KnowsLength(Protocol):
    """A source that can end by itself: how many frames it plays, once prepared."""

    @property
    def length_frames(self) -> int | None:
        """[main-thread] Frames it plays at the graph rate; None if it never ends (a loop)."""
        ...


@runtime_checkable
class TakesSidechain(Protocol):
    """A processor keyed from a side-chain input (``port: sidechain`` connections)."""

    def set_sidechain(self, buf: Buffer) -> None:
        """[main-thread & !active] The ``(channels, max_block)`` buffer the engine fills."""
        ...


class FailureCounters(ReportsHealth):
    """Base for plugin processors that count failures in five integer attributes.

    Subclasses assign the counters in ``__init__`` (the audio thread increments them) and
    say whether and why they failed; :meth:`health` packs them into a :class:`NodeHealth`.
    """

    xruns: int
    nan_blocks: int
    restarts: int
    errors: int
    fallback_blocks: int

    @property
    @abstractmethod
    def failed(self) -> bool:
        """[any-thread] True once the node is on its fallback for good."""

    @property
    @abstractmethod
    def failure_reason(self) -> str:
        """[any-thread] Why the node failed (or the last failure seen), "" if none."""

    def health(self) -> NodeHealth:
        """[any-thread] The counters, as one snapshot."""
        return NodeHealth(
            failed=self.failed,
            failure_reason=self.failure_reason,
            restarts=self.restarts,
            xruns=self.xruns,
            nan_blocks=self.nan_blocks,
            errors=self.errors,
            fallback_blocks=self.fallback_blocks,
        )


def health_of(proc: object) -> NodeHealth:
    """[any-thread] ``proc``'s health, or :data:`HEALTHY` when it reports none."""
    return proc.health() if isinstance(proc, ReportsHealth) else HEALTHY


def close_if_held(proc: object) -> None:
    """[main-thread & !active] Close ``proc`` if it holds resources (:class:`HoldsResources`)."""
    if isinstance(proc, HoldsResources):
        proc.close()


def worker_pid(proc: object) -> int | None:
    """[any-thread] The pid of ``proc``'s worker, or None (in-process, or between workers)."""
    if isinstance(proc, RunsInWorker):
        pid = proc.worker_pid
        return pid if pid is not None and pid > 0 else None
    return None
