"""Editing a running graph: transactions, crossfaded plan swaps, the edit journal."""

from ._edits import MAX_OPS, OP_SCHEMAS, apply_edits, check_ops
from ._live import EditTicket, LiveGraph

__all__ = ["MAX_OPS", "OP_SCHEMAS", "EditTicket", "LiveGraph", "apply_edits", "check_ops"]
