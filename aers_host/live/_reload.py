"""Plugin reload support: state compatibility, state handover, probation health.

* State is handed from an outgoing processor to its successor only when both declare the
  same, non-None ``state_version`` (:func:`state_version`); the handover itself
  (:func:`hand_over`) runs on the audio thread between two blocks, so the successor
  starts from the exact state at the swap sample.
* A reloaded plugin is watched for its first blocks. It fails probation when its processor
  reports any of the sandbox counters moving (``failed``, ``restarts``, ``errors``,
  ``nan_blocks``) relative to the moment it was prepared. Processors without counters
  (built-ins, native) are always healthy here.

Example:
    >>> class P: failed = False; restarts = 0; errors = 0; nan_blocks = 0
    >>> unhealthy(health_of(P()), health_of(P()))
    ''
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._processor import Processor


@dataclass(frozen=True, slots=True)
class Health:
    """Counters of one processor at one moment."""

    failed: bool
    restarts: int
    errors: int
    nan_blocks: int
    reason: str = ""


def health_of(proc: object) -> Health:
    """[any-thread] Read a processor's failure counters (zeros when it has none)."""
    return Health(
        bool(getattr(proc, "failed", False)),
        int(getattr(proc, "restarts", 0)),
        int(getattr(proc, "errors", 0)),
        int(getattr(proc, "nan_blocks", 0)),
        str(getattr(proc, "failure_reason", "") or ""),
    )


def unhealthy(before: Health, now: Health) -> str:
    """Why ``now`` fails probation compared with ``before`` ("" when it does not)."""
    why = []
    if now.failed and not before.failed:
        why.append("failed")
    for name in ("restarts", "errors", "nan_blocks"):
        delta = getattr(now, name) - getattr(before, name)
        if delta > 0:
            why.append(f"{name} +{delta}")
    if not why:
        return ""
    return ", ".join(why) + (f" ({now.reason})" if now.reason else "")


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
