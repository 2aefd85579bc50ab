"""Plugin hot-reload in a running server: verify, prepare, hand state over, watch, roll back.

:func:`reload_plugin` runs on a worker thread (``POST /api/plugins/{name}/reload``):

1. Re-read and fully re-verify the installed plugin from the store (signature, every file
   hash, expiry). A plugin that fails is refused; the running version is untouched.
2. Same signed content as the running version: nothing to do (``unchanged``).
3. Prepare the new version off the audio thread: every node of that type gets a new
   processor (for sandboxed plugins: a new worker) under the same id. A failure to prepare
   is refused; the running version is untouched.
4. At a block boundary the new processor receives the old one's state when both report
   the same ``state_version`` (:func:`aers_host.live.state_version`), and the old output
   crossfades into the new one.
5. Probation: for :data:`PROBATION_BLOCKS` blocks from the swap, the new processors'
   failure counters must not move (:func:`aers_host.live.unhealthy`), and the state
   handover must not have failed. Otherwise the inverse edit puts the *old processor
   objects* back (kept open until the probation ends), so they resume with their state.

Every step lands in the journal (``reload_plugin``, and ``rollback_plugin`` with a reason).

Example:
    >>> reload_plugin(runtime, "acme-delay", who="cli")      # doctest: +SKIP
    {'status': 'reloaded', 'version': '1.1.0', ...}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ConfigError, GraphError, PluginError
from ..live import EditTicket, health_of, unhealthy
from ._edits import EDIT_ACK_TIMEOUT
from ._runtime import EDIT_WAIT
from ._wire import ReloadResult

if TYPE_CHECKING:
    from ..plugins import PluginStore
    from ._runtime import LiveRuntime

#: Blocks a reloaded plugin must run cleanly before the old version is released.
PROBATION_BLOCKS = 50


class ReloadRefused(Exception):
    """A reload that changed nothing; ``code`` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def reload_plugin(
    runtime: LiveRuntime,
    name: str,
    *,
    who: str = "reload",
    store: PluginStore | None = None,
    probation_blocks: int = PROBATION_BLOCKS,
    on_applied: Callable[[], object] | None = None,
) -> ReloadResult:
    """[worker thread] Reload plugin ``name`` from the store (steps in the module docstring).

    Returns:
        What happened: ``status`` (``unchanged``, ``reloaded``, ``rolled_back`` or
        ``rollback_failed``), the versions, the rebuilt nodes, the swap's sample, the
        state handover per node and the reason of a rollback.

    Raises:
        ReloadRefused: verification or preparation failed; the old version keeps running.
    """
    from .._builtins import builtin_names
    from ..plugins import PluginStore, StorePluginType

    live = runtime.live
    try:  # Step 1: full verification of the installed copy, now.
        plugin = (store or PluginStore(reserved=builtin_names())).load_installed(name)
    except PluginError as err:
        raise ReloadRefused("verification_failed", str(err)) from err
    current = live.registry.get(name)
    running = getattr(current, "plugin", None)
    previous = str(getattr(running, "version", ""))
    result: ReloadResult = {"status": "unchanged", "name": name, "version": plugin.version,
                            "previous": previous, "nodes": [], "sample": -1, "handover": {},
                            "reason": ""}  # fmt: skip
    if running is not None and running.manifest == plugin.manifest:  # Step 2
        return {**result, "status": "unchanged"}
    old_procs = {n.id: n.proc for n in live.plan.nodes if n.type_name == name}
    op = {"op": "reload_plugin", "type": name, "from": previous, "to": plugin.version}
    live.hold(old_procs.values())  # open until the probation ends: a rollback needs them
    applied = False
    try:
        try:  # Step 3: prepare off the audio thread.
            ticket = live.replace_type(
                name, StorePluginType.of(plugin), who=who, ops=[op], wait=EDIT_WAIT
            )
        except (ConfigError, GraphError, PluginError) as err:
            raise ReloadRefused("prepare_failed", str(err)) from err
        applied = True
        if ticket is None:  # no node of that type: future edits use the new version
            return {**result, "status": "reloaded"}
        reason = _probation(runtime, ticket, probation_blocks)  # Steps 4-5
        result.update({"nodes": sorted(ticket.nodes), "sample": ticket.sample,
                       "handover": dict(ticket.handover), "reason": reason})  # fmt: skip
        if not reason:
            return {**result, "status": "reloaded"}
        assert current is not None  # there were nodes of this type, so it was registered
        back = {"op": "rollback_plugin", "type": name, "to": previous, "reason": reason}
        try:
            undo = live.replace_type(name, current, who="rollback", ops=[back],
                                     reuse=old_procs, wait=EDIT_WAIT)  # fmt: skip
        except (ConfigError, GraphError) as err:  # the new version stays: say so
            return {**result, "status": "rollback_failed", "reason": f"{reason}; {err}"}
        if undo is not None:
            undo.wait(EDIT_ACK_TIMEOUT)
        return {**result, "status": "rolled_back"}
    finally:
        live.release()
        live.collect()
        if applied and on_applied is not None:
            on_applied()


def _probation(runtime: LiveRuntime, ticket: EditTicket, blocks: int) -> str:
    """Why the new processors fail probation ("" when they pass)."""
    if ticket.wait(EDIT_ACK_TIMEOUT) < 0:
        return "the engine did not reach a block boundary in time"
    failed = [f"{n}: {h}" for n, h in ticket.handover.items() if h.startswith("error")]
    if failed:
        return "state handover failed (" + "; ".join(failed) + ")"
    refused = [  # a plugin refused at load plays its fallback as a failed node: not an upgrade
        f"{n}: {health.failure_reason or 'failed'}"
        for n, health in ticket.baseline.items()
        if health.failed
    ]
    if refused:
        return "the new version failed to prepare (" + "; ".join(refused) + ")"
    start = runtime.blocks
    period = runtime.plan.block_size / runtime.sample_rate
    deadline = time.monotonic() + blocks * period * 4 + EDIT_ACK_TIMEOUT
    while True:
        for node_id, proc in ticket.nodes.items():
            why = unhealthy(ticket.baseline[node_id], health_of(proc))
            if why:
                return f"{node_id}: {why}"
        if runtime.blocks - start >= blocks or time.monotonic() > deadline:
            return ""
        time.sleep(min(period, 0.01))
