"""Routes of the edit journal: apply a live edit, read the journal, undo.

``POST /api/edits[?who=NAME]`` (one op or a list, answered with the edit ``ack``),
``POST /api/edits/undo`` (revert the last edit not yet undone, see ``_undo``; 409
``nothing_to_undo`` when none is left) and ``GET /api/edits`` (the journal). Edits are
prepared on a worker thread, never on the event loop. Shapes: docs/feed.md, ``edit``.

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from .._edits import EditRefused, apply_edit
from .._rest import RestError, Who, check_author, json_body
from .._undo import UNDO_AUTHOR, NothingToUndo, undo_ops
from .._wire import PROTOCOL_VERSION, EditAck, JournalMessage, JsonObject
from ._deps import ServerState, Shared

#: The body ``POST /api/edits`` takes, as ``/openapi.json`` shows it.
_EDIT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "description": "one operation or a list of them (docs/feed.md, edit)",
                "anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
            }
        }
    },
}

router = APIRouter()


@router.post(
    "/api/edits",
    summary="Apply a live edit (an op or a list); acked with its sample",
    response_model=None,
    openapi_extra={"requestBody": _EDIT_BODY},
)
async def post_edit(request: Request, state: Shared, who: Who = "rest") -> EditAck:
    """Validate the edit as a config, put it live at a block boundary, answer its ``ack``."""
    check_author(who, "rest")
    return await _apply(state, await json_body(request), who)


@router.post(
    "/api/edits/undo",
    summary="Revert the last live edit (journalled as 'undo')",
    response_model=None,
)
async def post_undo(state: Shared) -> EditAck:
    """Apply the inverse of the last edit not yet undone, journalled with ``who: undo``."""
    live = state.runtime.live
    try:
        ops = undo_ops(live.origin.data, list(live.journal))
    except NothingToUndo as err:
        raise RestError.of(409, "nothing_to_undo", str(err)) from err
    return await _apply(state, ops, UNDO_AUTHOR)


@router.get("/api/edits", summary="The journal of applied edits", response_model=JsonObject)
async def get_edits(state: Shared) -> JournalMessage:
    """Every applied edit, oldest first: who, ops, sample, latency before and after."""
    return {"v": PROTOCOL_VERSION, "journal": list(state.runtime.live.journal)}


async def _apply(state: ServerState, ops: object, who: str) -> EditAck:
    """[event-loop] Apply ``ops`` on a worker thread; a refusal becomes its error answer."""
    try:
        return await asyncio.to_thread(apply_edit, state.runtime, ops, who, None, state.saved)
    except EditRefused as err:
        raise RestError(err.status, err.body) from err
