"""Editing a running graph: transactions, crossfaded plan swaps, the edit journal."""

from .._features import NodeHealth, health_of
from ._edits import MAX_OPS, OP_SCHEMAS, apply_edits, check_ops
from ._live import LiveGraph
from ._reload import state_version, unhealthy
from ._ticket import EditTicket, JournalEntry

__all__ = [
    "MAX_OPS",
    "OP_SCHEMAS",
    "EditTicket",
    "JournalEntry",
    "LiveGraph",
    "NodeHealth",
    "apply_edits",
    "check_ops",
    "health_of",
    "state_version",
    "unhealthy",
]
