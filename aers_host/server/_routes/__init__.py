"""The app's routes, one router per concern, and the state they share (``_deps``)."""

from ._deps import Node, NodeRef, ServerState, Shared
from ._edits import router as edits_router
from ._feed import router as feed_router
from ._metrics import router as metrics_router
from ._nodes import router as nodes_router
from ._plugins import router as plugins_router
from ._static import router as static_router

__all__ = [
    "Node",
    "NodeRef",
    "ServerState",
    "Shared",
    "edits_router",
    "feed_router",
    "metrics_router",
    "nodes_router",
    "plugins_router",
    "static_router",
]
