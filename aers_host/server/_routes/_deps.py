"""What every route shares, handed in as FastAPI dependencies (never closed over).

:func:`create_app` stores one :class:`ServerState` on ``app.state``; a route that needs
it declares a parameter of type :data:`Shared`, and a route about one node declares
:data:`Node`, which resolves the ``node_id`` path parameter (404 ``unknown_node`` when
the running graph has no such node).

Example:
    >>> @router.get("/api/nodes/{node_id}")                    # doctest: +SKIP
    ... async def get_node(node: Node) -> NodeDescription: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from .._feed import FeedHub
from .._plans import PlanView
from .._rest import RestError
from .._runtime import LiveRuntime


@dataclass(frozen=True, slots=True)
class ServerState:
    """The running engine and what serves it, for the app's whole life."""

    runtime: LiveRuntime
    hub: FeedHub
    #: Feed frames per second (announced in every ``graph``).
    rate: float
    #: The session autosave, called once an edit or reload is live (None: no session);
    #: a string it returns is a save failure, reported in the edit's ack.
    saved: Callable[[], object] | None = None


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node of the running graph: its id, and its index in ``view`` (one plan)."""

    id: str
    index: int
    view: PlanView


async def server_state(conn: HTTPConnection) -> ServerState:
    """[event-loop] The app's :class:`ServerState` (HTTP requests and WebSockets alike).

    ``async`` (like :func:`locate`) so FastAPI calls it on the event loop: a plain
    function would be sent to a worker thread on every request, one more thread
    contending for the GIL with the audio thread.
    """
    state = conn.app.state.aers
    if not isinstance(state, ServerState):
        raise TypeError("app.state.aers is not a ServerState: build the app with create_app")
    return state


async def locate(
    state: Annotated[ServerState, Depends(server_state)], node_id: str
) -> NodeRef:
    """[event-loop] The node ``node_id`` names, in the plan running now.

    Raises:
        RestError: 404 ``unknown_node``.
    """
    view = state.runtime.view
    index = view.index_of(node_id)
    if index is None:
        raise RestError.of(404, "unknown_node", f"no node {node_id!r} in this graph")
    return NodeRef(node_id, index, view)


#: A route parameter receiving the :class:`ServerState`.
Shared = Annotated[ServerState, Depends(server_state)]
#: A route parameter receiving the node of the ``node_id`` path parameter.
Node = Annotated[NodeRef, Depends(locate)]
