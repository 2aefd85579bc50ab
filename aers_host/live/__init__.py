"""Editing a running graph: transactions, crossfaded plan swaps, the edit journal."""

from .._features import NodeHealth, health_of
from ._edits import apply_edits
from ._live import LiveGraph
from ._reload import state_version, unhealthy
from ._ticket import EditTicket, JournalEntry

__all__ = [
    "EditTicket",
    "JournalEntry",
    "LiveGraph",
    "NodeHealth",
    "apply_edits",
    "health_of",
    "state_version",
    "unhealthy",
]
