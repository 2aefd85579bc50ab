"""The WebSocket feed at ``/ws`` (docs/feed.md): one receiver and one sender per client.

On connect the client gets a ``graph``; a sender task then drains the client's queue
(frames and messages the :class:`FeedHub` puts there), while the receiver validates each
client message and queues it for the audio thread, or answers an ``error`` that changes
nothing. An ``edit`` is prepared on a worker thread; its ``ack`` (or ``error``) follows
when it is live.

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from .._edits import EditRefused, apply_edit, parse_edit
from .._feed import ClientQueue
from .._messages import ProtocolError, dumps, graph_message, parse_client_message
from .._model import EditRequest
from ._deps import ServerState, Shared

router = APIRouter()
#: Edit tasks in flight (a reference keeps them from being garbage-collected).
_TASKS: set[asyncio.Task[None]] = set()


@router.websocket("/ws")
async def feed(websocket: WebSocket, state: Shared) -> None:
    """Stream the feed to one client and take its controls and edits."""
    await websocket.accept()
    client = state.hub.add()
    client.put(dumps(graph_message(state.runtime, state.rate)), frame=False)
    sender = asyncio.create_task(_send_loop(websocket, client))
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            _handle(state, client, message.get("text"), message.get("bytes"))
    except WebSocketDisconnect:
        pass
    finally:
        state.hub.remove(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _handle(state: ServerState, client: ClientQueue, text: str | None, data: bytes | None) -> None:
    """Validate one client message and queue it, or answer with an error (changing nothing).

    An ``edit`` is prepared on a worker thread; its ack (or error) follows when it is live.
    """
    try:
        control = parse_client_message(text if text is not None else data, state.runtime)
    except ProtocolError as err:
        client.put(dumps(err.body()), frame=False)
        return
    if isinstance(control, EditRequest):
        task = asyncio.get_running_loop().create_task(_edit(state, client, control.data))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return
    if not state.runtime.submit(replace(control, origin=client)):
        busy = ProtocolError("busy", "too many pending controls; retry", control.req)
        client.put(dumps(busy.body()), frame=False)


async def _edit(state: ServerState, client: ClientQueue, data: Mapping[str, Any]) -> None:
    """[event-loop] Apply a WebSocket ``edit``; answer its ``ack`` or ``error``."""
    try:
        ops, req = parse_edit(data)
    except ProtocolError as err:
        client.put(dumps(err.body()), frame=False)
        return
    try:
        answer = await asyncio.to_thread(apply_edit, state.runtime, ops, "ws", req, state.saved)
    except EditRefused as err:
        client.put(dumps(err.body), frame=False)
        return
    client.put(dumps(answer), frame=False)


async def _send_loop(websocket: WebSocket, client: ClientQueue) -> None:
    """[event-loop] Forever: send the client's next queued message."""
    while True:
        await websocket.send_text(await client.get())
