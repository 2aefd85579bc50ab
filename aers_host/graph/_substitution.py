"""Which samples of a render are not the graph's real output, per node, and how to say so.

Two sources feed it: processors backed by another process (sandboxed, in-process
plugins, remote nodes) keep a ``substitutions`` log of the blocks they answered with
their fallback; the engine keeps ``NodeRuntime.substituted`` for blocks of NaN/Inf it
replaced at any node. An offline render with any entry exits 1 unless fallback is
allowed (see ``docs/architecture.md``, *Timing modes*).

Example:
    >>> report = substitution_report(plan)          # doctest: +SKIP
    >>> report["clip"]["samples"], report["clip"]["ranges"][:1]   # doctest: +SKIP
    (57600, [[4096, 61696]])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._features import LogsSubstitutions, health_of
from .._timing import SubstitutionLog
from ..errors import FallbackAudioError
from ._plan import Plan


def node_log(node: Any) -> SubstitutionLog:
    """[main-thread] The node's substituted blocks: its processor's log and the engine's."""
    own = node.proc.substitutions if isinstance(node.proc, LogsSubstitutions) else None
    screened: SubstitutionLog = node.substituted
    if own is not None and own.blocks:
        return own.merge(screened) if screened.blocks else own
    return screened


def substitution_report(plan: Plan) -> dict[str, dict[str, Any]]:
    """[main-thread] ``metrics.json``'s ``substituted``: node id → count, first sample, ranges.

    Only nodes with at least one substituted block appear.
    """
    report = {}
    for node in plan.nodes:
        log = node_log(node)
        if log.blocks:
            info = log.to_dict(plan.sample_rate)
            info["nonfinite_blocks"] = node.nonfinite_blocks
            report[node.id] = info
    return report


def fallback_lines(nodes: Mapping[str, Mapping[str, Any]], sample_rate: int) -> list[str]:
    """One line per node that played fallback audio, from ``metrics.json``'s ``nodes``.

    Each line says why (failed with its reason, late or NaN/Inf blocks), for how long,
    and where it started, e.g. ``node 'clip': failed after 2 restarts (hang in process at
    sample 4096 ...); its fallback played for 1.20 s (57600 samples from sample 4096)``.
    """
    lines = []
    for node_id, node in nodes.items():
        sub = node.get("substituted")
        if not isinstance(sub, Mapping) or not sub.get("samples"):
            continue
        if node.get("failed"):
            restarts = int(node.get("restarts") or 0)
            why = "failed"  # refused at load, or an in-process plugin's own failure
            if restarts:
                why += f" after {restarts} restart{'s' if restarts != 1 else ''}"
            reason = str(node.get("failure_reason") or "").removeprefix(f"node {node_id!r}: ")
            if reason:
                why += f" ({reason})"
        elif sub.get("nonfinite_blocks"):
            why = f"{sub['nonfinite_blocks']} blocks of NaN/Inf replaced"
        else:
            why = f"{sub['blocks']} blocks without a result"
        samples = int(sub["samples"])
        lines.append(
            f"node {node_id!r}: {why}; its fallback played for {samples / sample_rate:.2f} s "
            f"({samples} samples from sample {sub['first_sample']})"
        )
    return lines


def node_health(proc: object) -> dict[str, Any]:
    """[main-thread] What a fallback line says about a node's processor: failed, why, restarts."""
    health = health_of(proc)
    return {
        "failed": health.failed,
        "failure_reason": health.failure_reason or None,
        "restarts": health.restarts,
    }


def plan_fallback_lines(plan: Plan, report: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """[main-thread] :func:`fallback_lines` for the nodes of ``plan`` named in ``report``."""
    nodes = {
        node.id: {"substituted": report[node.id], **node_health(node.proc)}
        for node in plan.nodes
        if node.id in report
    }
    return fallback_lines(nodes, plan.sample_rate)


def check_fallback(
    plan: Plan, report: Mapping[str, Mapping[str, Any]], *, allowed: bool, result: object = None
) -> None:
    """[main-thread] Raise :class:`FallbackAudioError` if ``report`` names a node, unless allowed.

    ``report`` is :func:`substitution_report` of ``plan``; each node's line says whether it
    failed (and why, after how many restarts) and which samples played its fallback.

    Raises:
        FallbackAudioError: a node played fallback audio and ``allowed`` is False.
    """
    if report and not allowed:
        raise FallbackAudioError(plan_fallback_lines(plan, report), result)
