"""Which sandboxed nodes share a worker: isolation modes, trust domains and the build scope.

=================  ===========================================================
``per-instance``   one worker per node (``sandbox`` is an alias)
``per-plugin``     one worker per plugin: signing key, name and version
``shared``         one worker per trust domain: every node whose plugin is
                   signed by the same key (the default, see ``worker_default``)
``in-process``     no worker (:class:`~._inprocess.InProcessProcessor`)
=================  ===========================================================

Why a worker never mixes signing keys: a worker is one address space. Code in it can read
and write everything the other plugins in it hold (their state, their parameters, their
audio) and can crash or stall them. A key is the unit of trust the keyring grants and
revokes, so the largest group that may share a fate is "everything one key signed".

Sharing is decided while a graph is built: :func:`shared_workers` opens a scope in which
``prepare`` of a sharing node only *joins* the group's :class:`~._link.WorkerLink`; when the
scope exits every link starts its worker, once, with every member known. Outside a scope
(a processor prepared on its own) a sharing node gets a private worker, as ``per-instance``.

A scope opened with ``describe_only=True`` (``aers graph``: a plan to show, never to run)
also gathers the private workers, and on exit starts only the workers it must ask for a
latency: those hosting native or LV2 stages, which report it once instantiated. A Python
stage's latency is the literal its class declares, which the loader reads from the
verified source without running it (:mod:`._loader`) and every worker holds the class to
(one whose class reports another value refuses that node). So describing a graph of
Python plugins runs no plugin code and starts no process, and shows the latency a render
plans with.

Example:
    >>> with shared_workers():                        # doctest: +SKIP
    ...     for proc in procs:
    ...         proc.prepare(48000, 512, 2)           # joins; nothing starts yet
    >>> # here each group's worker has started
"""

from __future__ import annotations

from collections.abc import Hashable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ..plugins._verified import VerifiedPlugin
    from ._link import WorkerLink

_current: ContextVar[WorkerScope | None] = ContextVar("aers_worker_scope", default=None)


def share_key(plugin: VerifiedPlugin, isolation: str) -> Hashable | None:
    """[main-thread] The group a node of ``plugin`` shares a worker with (None: its own).

    The key id is part of every key, so nodes of different trust domains never meet.
    """
    if isolation == "shared":
        return ("key", plugin.keyid)
    if isolation == "per-plugin":
        return ("plugin", plugin.keyid, plugin.name, plugin.version)
    return None


def current_scope() -> WorkerScope | None:
    """[main-thread] The innermost open :class:`WorkerScope`, if any."""
    return _current.get()


@final
class WorkerScope:
    """[main-thread] Groups the sharing nodes prepared inside it; starts their workers on exit.

    If the body raises, no worker is started. A worker that refuses a plugin (or cannot
    start) fails that plugin's node from the start and starts for the others
    (:meth:`~._link.WorkerLink.start`); only a host-side error (no shared memory) stops
    every worker of the scope and propagates.
    """

    __slots__ = ("_links", "_token", "describe_only")

    def __init__(self, *, describe_only: bool = False) -> None:
        self._links: dict[tuple[Hashable, int, int], WorkerLink] = {}
        self._token: Token[WorkerScope | None] | None = None
        #: Gather every node, private ones too; start only workers whose latency is unknown.
        self.describe_only = describe_only

    def link(self, key: Hashable, sample_rate: int, max_block: int) -> WorkerLink:
        """[main-thread & !active] The (not yet started) worker link of group ``key``."""
        from ._link import WorkerLink

        slot = (key, sample_rate, max_block)
        link = self._links.get(slot)
        if link is None:
            link = self._links[slot] = WorkerLink(sample_rate, max_block)
        return link

    def __enter__(self) -> WorkerScope:
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Start every group's worker (describing: only those needed), unless the body raised.

        Raises:
            OSError: the host could not allocate a worker's shared memory.
        """
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if exc_type is not None:
            return
        try:
            for link in self._links.values():
                if not (self.describe_only and link.latency_declared):
                    link.start()
        except BaseException:
            for link in self._links.values():
                link.close()
            raise


def shared_workers(*, describe_only: bool = False) -> WorkerScope:
    """[main-thread] A new :class:`WorkerScope`, to use as a context manager.

    Args:
        describe_only: the nodes are built to be described, never run (see the module
            docstring); their unstarted workers are released by closing the nodes.
    """
    return WorkerScope(describe_only=describe_only)
