"""Editing a running graph: transactions, crossfaded plan swaps, the edit journal."""

from ._edits import MAX_OPS, OP_SCHEMAS, apply_edits, check_ops
from ._live import LiveGraph
from ._reload import Health, health_of, state_version, unhealthy
from ._ticket import EditTicket, JournalEntry

__all__ = [
    "MAX_OPS",
    "OP_SCHEMAS",
    "EditTicket",
    "Health",
    "JournalEntry",
    "LiveGraph",
    "apply_edits",
    "check_ops",
    "health_of",
    "state_version",
    "unhealthy",
]
