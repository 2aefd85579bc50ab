"""The FastAPI app: dashboard page, WebSocket feed, REST API and Prometheus metrics.

Routes: ``/`` (dashboard), ``/static/...``, ``/ws`` (feed, docs/feed.md), ``/api/graph``,
``/api/nodes``, ``/api/nodes/{id}``, ``/api/nodes/{id}/params`` (GET/POST),
``/api/edits`` (POST an edit, GET the journal), ``/api/config`` (the live config),
``/api/plugins/{name}/reload`` (POST), ``/api/metrics`` (JSON), ``/metrics`` (Prometheus
text 0.0.4), ``/openapi.json``.

The app's lifespan starts the runtime's block thread and the feed broadcaster and stops
both on shutdown (then, with ``autosave``, stores the final session version); it does not
close the runtime (the caller owns it). Edits and reloads run on worker threads.

Example:
    >>> app = create_app(LiveRuntime.from_config(cfg, registry))    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from .._json import to_jsonable
from ._auth import AccessGuard
from ._autosave import Autosaver
from ._edits import EditRefused, apply_edit, parse_edit
from ._feed import ClientQueue, FeedHub
from ._messages import (
    PROTOCOL_VERSION,
    ProtocolError,
    dumps,
    error_message,
    graph_message,
    node_info,
    parse_client_message,
    validate_control,
)
from ._model import Ack, Control, EditRequest
from ._reload import ReloadRefused, reload_plugin
from ._runtime import LiveRuntime
from ._stats import live_summary, prometheus

STATIC_DIR = Path(str(files("aers_host.server") / "static"))
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds a REST parameter change waits for the block that applies it.
ACK_TIMEOUT = 2.0


def create_app(
    runtime: LiveRuntime,
    token: str | None = None,
    *,
    rate: float = 30.0,
    allowed_hosts: Iterable[str] | None = None,
    max_frames: int = 8,
    autosave: Autosaver | None = None,
) -> FastAPI:
    """Build the app around a (not yet started) runtime.

    Args:
        runtime: the live engine; started and stopped with the app's lifespan.
        token: when set, every request and WebSocket must present it.
        rate: feed frames per second (sets the runtime's publish interval).
        allowed_hosts: ``Host`` names accepted (None: any; the CLI passes loopback names).
        max_frames: frames a client may lag before its oldest are dropped.
        autosave: saves the session after each edit and at shutdown (None: no session).
    """
    runtime.publish_interval = 1.0 / rate
    hub = FeedHub(runtime, max_frames=max_frames, rate=rate)
    saved = autosave.try_save if autosave is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())
        task = asyncio.create_task(hub.run())
        if not runtime.running:
            runtime.start()
        try:
            yield
        finally:
            runtime.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if autosave is not None:
                autosave.try_save(final=True)

    app = FastAPI(
        title="AERS live dashboard",
        version=f"feed-v{PROTOCOL_VERSION}",
        summary="Live levels, timings and controls of a running AERS routing graph.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc pull scripts from a CDN; the spec is enough
        redoc_url=None,
    )
    app.state.runtime, app.state.hub = runtime, hub
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def node_index(node_id: str) -> tuple[int, Any]:
        view = runtime.view
        index = view.index_of(node_id)
        if index is None:
            raise HTTPException(404, f"no node {node_id!r} in this graph")
        return index, view

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-store"})

    @app.get("/api/graph", summary="Graph snapshot (the feed's first message)")
    async def get_graph() -> dict[str, Any]:
        return graph_message(runtime, rate)

    @app.get("/api/nodes", summary="Every node with flags and parameter values")
    async def get_nodes() -> list[dict[str, Any]]:
        view = runtime.view
        return [node_info(runtime, i, view) for i in range(len(view.plan.nodes))]

    @app.get("/api/nodes/{node_id}", summary="One node")
    async def get_node(node_id: str) -> dict[str, Any]:
        return node_info(runtime, *node_index(node_id))

    @app.get("/api/nodes/{node_id}/params", summary="Declared parameters and current values")
    async def get_params(node_id: str) -> dict[str, Any]:
        return {p["name"]: p for p in node_info(runtime, *node_index(node_id))["params"]}

    @app.post("/api/edits", summary="Apply a live edit (an op or a list); acked with its sample")
    async def post_edit(
        ops: Annotated[Any, Body()],
        who: Annotated[str, Query(max_length=64, pattern=r"^[\w.@:-]+$")] = "rest",
    ) -> JSONResponse:
        try:
            ack = await asyncio.to_thread(apply_edit, runtime, ops, who, None, saved)
        except EditRefused as err:
            return JSONResponse(err.body, status_code=err.status)
        return JSONResponse(ack)

    @app.get("/api/edits", summary="The journal of applied edits")
    async def get_edits() -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "journal": list(runtime.live.journal)}

    @app.get("/api/config", summary="The live config (what an offline render needs)")
    async def get_config() -> dict[str, Any]:
        return dict(runtime.live.config.data)

    @app.post("/api/plugins/{name}/reload", summary="Re-verify a store plugin and hot-swap it")
    async def post_reload(
        name: str, who: Annotated[str, Query(max_length=64, pattern=r"^[\w.@:-]+$")] = "reload"
    ) -> JSONResponse:
        try:
            result = await asyncio.to_thread(reload_plugin, runtime, name, who=who,
                                             on_applied=saved)  # fmt: skip
        except ReloadRefused as err:
            body = {"v": PROTOCOL_VERSION, "type": "error", "code": err.code,
                    "message": err.message, "req": None}  # fmt: skip
            return JSONResponse(body, status_code=422)
        return JSONResponse({"v": PROTOCOL_VERSION, **result})

    @app.post(
        "/api/nodes/{node_id}/params",
        summary="Change a parameter at the next block; returns the sample it took effect on",
        response_model=None,
    )
    async def post_param(
        node_id: str,
        param: Annotated[str, Body(max_length=128)],
        value: Annotated[float, Body()],
    ) -> dict[str, Any] | JSONResponse:
        node_index(node_id)
        message: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": "param", "node": node_id}
        try:
            control = validate_control({**message, "param": param, "value": value}, runtime)
        except ProtocolError as err:  # the feed's own error body, as docs/feed.md shows it
            return JSONResponse(error_message(err), status_code=422)
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        if not runtime.submit(_with_origin(control, future)):
            raise HTTPException(503, "too many pending controls; retry")
        try:
            ack = await asyncio.wait_for(future, ACK_TIMEOUT)
        except TimeoutError as err:
            raise HTTPException(504, "the engine did not apply the change in time") from err
        return {
            "node": node_id,
            "param": param,
            "value": value,
            "sample": ack.sample,
            "loop": ack.loop,
        }

    @app.get("/api/metrics", summary="Live metrics summary (JSON)")
    async def get_metrics() -> dict[str, Any]:
        summary: dict[str, Any] = to_jsonable(live_summary(runtime))
        return summary

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus text 0.0.4")
    async def get_prometheus() -> PlainTextResponse:
        return PlainTextResponse(prometheus(runtime), media_type=PROMETHEUS_TYPE)

    @app.websocket("/ws")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        client = hub.add()
        client.put(dumps(graph_message(runtime, rate)), frame=False)
        sender = asyncio.create_task(_send_loop(websocket, client))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                _handle(runtime, client, message.get("text"), message.get("bytes"), saved)
        except WebSocketDisconnect:
            pass
        finally:
            hub.remove(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    app.add_middleware(AccessGuard, token=token, allowed_hosts=allowed_hosts)
    return app


def _with_origin(control: Control, origin: object) -> Control:
    return replace(control, origin=origin)


def _handle(
    runtime: LiveRuntime,
    client: ClientQueue,
    text: str | None,
    data: bytes | None,
    saved: Callable[[], Any] | None = None,
) -> None:
    """Validate one client message and queue it, or answer with an error (changing nothing).

    An ``edit`` is prepared on a worker thread; its ack (or error) follows when it is live.
    """
    try:
        control = parse_client_message(text if text is not None else data, runtime)
    except ProtocolError as err:
        client.put(dumps(error_message(err)), frame=False)
        return
    if isinstance(control, EditRequest):
        task = asyncio.get_running_loop().create_task(_edit(runtime, client, control.data, saved))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
        return
    if not runtime.submit(_with_origin(control, client)):
        busy = ProtocolError("busy", "too many pending controls; retry", control.req)
        client.put(dumps(error_message(busy)), frame=False)


#: Edit tasks in flight (a reference keeps them from being garbage-collected).
_TASKS: set[asyncio.Task[None]] = set()


async def _edit(
    runtime: LiveRuntime,
    client: ClientQueue,
    data: dict[str, Any],
    saved: Callable[[], Any] | None,
) -> None:
    try:
        ops, req = parse_edit(data)
    except ProtocolError as err:
        client.put(dumps(error_message(err)), frame=False)
        return
    try:
        answer = await asyncio.to_thread(apply_edit, runtime, ops, "ws", req, saved)
    except EditRefused as err:
        answer = err.body
    client.put(dumps(answer), frame=False)


async def _send_loop(websocket: WebSocket, client: ClientQueue) -> None:
    while True:
        await websocket.send_text(await client.get())
