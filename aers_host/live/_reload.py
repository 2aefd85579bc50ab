"""Plugin reload support: state compatibility, state handover, probation health.

* State is handed from an outgoing processor to its successor only when both declare the
  same, non-None ``state_version`` (:func:`state_version`); the handover itself
  (:func:`hand_over`) runs on the audio thread between two blocks, so the successor
  starts from the exact state at the swap sample.
* A reloaded plugin is watched for its first blocks. It fails probation when its processor
  reports (:class:`~aers_host._features.ReportsHealth`) any of the failure counters moving
  (``failed``, ``restarts``, ``errors``, ``nan_blocks``) relative to the moment it was
  prepared. Processors that report none (built-ins, in-process native) are always healthy.

Example:
    >>> unhealthy(NodeHealth(), NodeHealth(restarts=1, failure_reason="worker died"))
    'restarts +1 (worker died)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._features import NodeHealth
from .._processor import Processor


def unhealthy(before: NodeHealth, now: NodeHealth) -> str:
    """Why ``now`` fails probation compared with ``before`` ("" when it does not)."""
    why = []
    if now.failed and not before.failed:
        why.append("failed")
    deltas = {
        "restarts": now.restarts - before.restarts,
        "errors": now.errors - before.errors,
        "nan_blocks": now.nan_blocks - before.nan_blocks,
    }
    why += [f"{name} +{delta}" for name, delta in deltas.items() if delta > 0]
    if not why:
        return ""
    return ", ".join(why) + (f" ({now.failure_reason})" if now.failure_reason else "")


def state_version(proc: Processor, state: Mapping[str, Any] | None = None) -> object:
    """The ``state_version`` a processor declares; None if it declares none.

    Looked up in its state (``state``, else ``get_state()``), then in that state's
    ``plugin`` part (sandboxed plugins wrap their own state there), then as an attribute of
    the processor (class attribute). State is handed over on a reload only when the
    outgoing and incoming processors declare equal, non-None versions.
    """
    if state is None:
        try:
            state = proc.get_state()
        except Exception:  # a processor that cannot report state declares by attribute only
            state = {}
    for holder in (state, state.get("plugin")):
        if isinstance(holder, Mapping) and holder.get("state_version") is not None:
            return holder["state_version"]
    return getattr(proc, "state_version", None)


def hand_over(old: Processor, new: Processor, version: object) -> str:
    """[audio-thread, between blocks] Give ``new`` the state of ``old`` if compatible."""
    try:
        state = old.get_state()
        if version is None or state_version(old, state) != version:
            return "fresh"
        new.set_state(state)
    except Exception as err:  # a failing handover leaves the new one fresh; probation decides
        return f"error: {err}"
    return "state"
