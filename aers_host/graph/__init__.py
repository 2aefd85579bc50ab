"""Graph planning and the block engine (design.md §2)."""

from ._edits import OP_SCHEMAS, apply_edits, check_ops
from ._engine import BlockTimings, Engine, EventSource
from ._live import EditTicket, LiveGraph
from ._plan import InputEdge, NodeRuntime, Plan, build_graph, build_plan, describe
from ._render import RenderResult, render, render_length, render_metrics
from ._sinks import OutputSink
from ._topology import CycleError, Edge, Topology, plan_topology

__all__ = [
    "OP_SCHEMAS",
    "BlockTimings",
    "CycleError",
    "Edge",
    "EditTicket",
    "Engine",
    "EventSource",
    "InputEdge",
    "LiveGraph",
    "NodeRuntime",
    "OutputSink",
    "Plan",
    "RenderResult",
    "Topology",
    "apply_edits",
    "build_graph",
    "build_plan",
    "check_ops",
    "describe",
    "plan_topology",
    "render",
    "render_length",
    "render_metrics",
]
