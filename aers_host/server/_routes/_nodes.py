"""Routes describing the running graph and changing parameters (docs/feed.md, REST).

``GET /api/graph`` (the feed's ``graph`` message), ``GET /api/nodes``,
``GET /api/nodes/{id}``, ``GET|POST /api/nodes/{id}/params`` (a parameter change is a
``param`` control, checked exactly as on the WebSocket, acknowledged with its sample),
``GET /api/types`` (the palette: every node type of the running registry) and
``GET /api/config`` (the live config, what an offline render of it needs).

Response schemas stay plain JSON objects in ``/openapi.json``; the shapes are declared
in ``_wire`` and described in docs/feed.md.

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fastapi import APIRouter, Request

from .._messages import ProtocolError, graph_message, node_info, type_info, validate_control
from .._model import Ack
from .._rest import RestError, json_body
from .._wire import (
    PROTOCOL_VERSION,
    GraphMessage,
    JsonObject,
    NodeDescription,
    ParamChanged,
    ParamState,
    TypesMessage,
)
from ._deps import Node, Shared

#: Seconds a REST parameter change waits for the block that applies it.
ACK_TIMEOUT = 2.0
#: The body ``POST /api/nodes/{id}/params`` takes, as ``/openapi.json`` shows it.
_PARAM_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"param": {"type": "string"}, "value": {"type": "number"}},
                "required": ["param", "value"],
                "additionalProperties": False,
            }
        }
    },
}

router = APIRouter()


@router.get(
    "/api/graph",
    summary="Graph snapshot (the feed's first message)",
    response_model=JsonObject,
)
async def get_graph(state: Shared) -> GraphMessage:
    """The feed's ``graph`` message: nodes in processing order, edges, timing facts."""
    return graph_message(state.runtime, state.rate)


@router.get(
    "/api/nodes",
    summary="Every node with flags and parameter values",
    response_model=list[JsonObject],
)
async def get_nodes(state: Shared) -> list[NodeDescription]:
    """Every node in processing order, with its flags and running parameter values."""
    runtime = state.runtime
    view = runtime.view
    return [node_info(runtime, i, view) for i in range(len(view.plan.nodes))]


@router.get("/api/nodes/{node_id}", summary="One node", response_model=JsonObject)
async def get_node(state: Shared, node: Node) -> NodeDescription:
    """One node, as ``GET /api/nodes`` describes it; 404 ``unknown_node``."""
    return node_info(state.runtime, node.index, node.view)


@router.get(
    "/api/nodes/{node_id}/params",
    summary="Declared parameters and current values",
    response_model=JsonObject,
)
async def get_params(state: Shared, node: Node) -> dict[str, ParamState]:
    """The node's declared parameters by name: range, default, unit, running value."""
    return {p["name"]: p for p in node_info(state.runtime, node.index, node.view)["params"]}


@router.post(
    "/api/nodes/{node_id}/params",
    summary="Change a parameter at the next block; returns the sample it took effect on",
    response_model=None,
    openapi_extra={"requestBody": _PARAM_BODY},
)
async def post_param(request: Request, state: Shared, node: Node) -> ParamChanged:
    """Body ``{"param", "value"}``; refused with the ``param`` control's checks (422)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RestError.of(422, "bad_message", 'the body must be a JSON object {"param", "value"}')
    extra = sorted(set(body) - {"param", "value"})
    missing = [k for k in ("param", "value") if k not in body]
    if extra or missing:
        problem = f"unknown keys: {', '.join(extra)}" if extra else ""
        problem = problem or f"missing keys: {', '.join(missing)}"
        raise RestError.of(422, "bad_message", f'{problem} (expected {{"param", "value"}})')
    message = {"v": PROTOCOL_VERSION, "type": "param", "node": node.id, **body}
    runtime = state.runtime
    try:
        control = validate_control(message, runtime)
    except ProtocolError as err:  # the feed's own error body, as docs/feed.md shows it
        raise RestError(422, err.body()) from err
    future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
    if not runtime.submit(replace(control, origin=future)):
        raise RestError.of(503, "busy", "too many pending controls; retry")
    try:
        async with asyncio.timeout(ACK_TIMEOUT):  # cancels the future when late
            ack = await future
    except TimeoutError as err:
        late = "the engine did not apply the change in time"
        raise RestError.of(504, "timeout", late) from err
    return {
        "node": node.id,
        "param": control.param,
        "value": control.value,
        "sample": ack.sample,
        "loop": ack.loop,
    }


@router.get(
    "/api/types",
    summary="Node types of the registry, with parameter forms",
    response_model=JsonObject,
)
async def get_types(state: Shared) -> TypesMessage:
    """Every node type of the running registry, with its parameters and params schema."""
    registry = state.runtime.live.registry
    return {"v": PROTOCOL_VERSION, "types": [type_info(t) for _, t in sorted(registry.items())]}


@router.get(
    "/api/config",
    summary="The live config (what an offline render needs)",
    response_model=JsonObject,
)
async def get_config(state: Shared) -> JsonObject:
    """The live config document: what an offline render of the current graph needs."""
    return dict(state.runtime.live.config.data)
