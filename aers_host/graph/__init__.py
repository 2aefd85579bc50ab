"""Graph planning and the block engine (docs/architecture.md).

Names load on first use (PEP 562): the validator needs the topology, channel and
automation modules, and must not pay for the engine's numba kernels to get them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports_from

__all__ = [
    "BlockTimings",
    "CycleError",
    "Edge",
    "Engine",
    "EventSource",
    "InputEdge",
    "NodeRuntime",
    "OutputSink",
    "Pacing",
    "Plan",
    "RenderObserver",
    "RenderResult",
    "Topology",
    "build_plan",
    "check_fallback",
    "describe",
    "fallback_lines",
    "node_health",
    "plan_fallback_lines",
    "plan_topology",
    "render",
    "render_length",
    "render_metrics",
    "substitution_report",
]

_WHERE = {
    "BlockTimings": "._engine",
    "CycleError": "aers_host._topology",
    "Edge": "aers_host._topology",
    "Engine": "._engine",
    "EventSource": "._engine",
    "InputEdge": "._plan",
    "NodeRuntime": "._plan",
    "OutputSink": "._sinks",
    "Pacing": "._render",
    "Plan": "._plan",
    "RenderObserver": "._render",
    "RenderResult": "._render",
    "Topology": "aers_host._topology",
    "build_plan": "._plan",
    "describe": "._plan",
    "plan_topology": "aers_host._topology",
    "render": "._render",
    "render_length": "._render",
    "render_metrics": "._render",
    "fallback_lines": "._substitution",
    "substitution_report": "._substitution",
    "check_fallback": "._substitution",
    "node_health": "._substitution",
    "plan_fallback_lines": "._substitution",
}

if TYPE_CHECKING:
    from .._topology import CycleError, Edge, Topology, plan_topology
    from ._engine import BlockTimings, Engine, EventSource
    from ._plan import InputEdge, NodeRuntime, Plan, build_plan, describe
    from ._render import (
        Pacing,
        RenderObserver,
        RenderResult,
        render,
        render_length,
        render_metrics,
    )
    from ._sinks import OutputSink
    from ._substitution import (
        check_fallback,
        fallback_lines,
        node_health,
        plan_fallback_lines,
        substitution_report,
    )


__getattr__ = exports_from(__name__, _WHERE)
