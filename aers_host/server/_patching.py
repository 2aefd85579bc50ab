"""Routes the dashboard patches with: the palette of node types, and undo.

* ``GET /api/types`` — every node type of the running registry (built-ins, entry-point
  packages and installed plugins): role, summary, origin, whether it takes a side-chain,
  its automatable parameters (ranges, units, choices) and the JSON Schema of its
  ``params``, so a client can offer a form for any type it has never seen.
* ``POST /api/edits/undo`` — revert the last live edit not yet undone (see ``_undo``);
  answered like ``POST /api/edits`` (the edit ``ack``, or the ``error`` with every
  problem), 409 ``nothing_to_undo`` when the journal has nothing left to revert.

Example:
    >>> app.include_router(patching_router(runtime, saved))   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .._json import to_jsonable
from .._nodetype import NodeType
from ._edits import EditRefused, apply_edit
from ._messages import PROTOCOL_VERSION, ProtocolError, error_message, spec_info
from ._runtime import LiveRuntime
from ._undo import UNDO_AUTHOR, NothingToUndo, undo_ops


def type_info(node_type: NodeType) -> dict[str, Any]:
    """A palette entry: what a client needs to add a node of this type."""
    return {
        "name": node_type.name,
        "role": node_type.role,
        "summary": node_type.summary,
        "origin": node_type.origin,
        "sidechain": bool(getattr(node_type, "sidechain", False)),
        "params": [spec_info(s) for s in node_type.param_specs()],
        "schema": to_jsonable(node_type.params_schema()),
    }


def patching_router(runtime: LiveRuntime, saved: Callable[[], Any] | None) -> APIRouter:
    """The palette and undo routes for ``runtime`` (``saved``: the session autosave)."""
    router = APIRouter()

    @router.get("/api/types", summary="Node types of the registry, with parameter forms")
    async def get_types() -> dict[str, Any]:
        registry: Mapping[str, NodeType] = runtime.live.registry
        types = [type_info(t) for _, t in sorted(registry.items())]
        return {"v": PROTOCOL_VERSION, "types": types}

    @router.post("/api/edits/undo", summary="Revert the last live edit (journalled as 'undo')")
    async def post_undo() -> JSONResponse:
        live = runtime.live
        try:
            ops = undo_ops(live.origin.data, list(live.journal))
        except NothingToUndo as err:
            body = error_message(ProtocolError("nothing_to_undo", str(err)))
            return JSONResponse(body, status_code=409)
        try:
            ack = await asyncio.to_thread(apply_edit, runtime, ops, UNDO_AUTHOR, None, saved)
        except EditRefused as err:
            return JSONResponse(err.body, status_code=err.status)
        return JSONResponse(ack)

    return router
