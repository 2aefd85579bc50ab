"""Graph planning and the block engine (design.md §2)."""

from ._engine import BlockTimings, Engine, EventSource
from ._plan import InputEdge, NodeRuntime, Plan, build_graph, build_plan, describe
from ._render import Pacing, RenderObserver, RenderResult, render, render_length, render_metrics
from ._sinks import OutputSink
from ._topology import CycleError, Edge, Topology, plan_topology

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
    "build_graph",
    "build_plan",
    "describe",
    "plan_topology",
    "render",
    "render_length",
    "render_metrics",
]
