"""The FastAPI app: dashboard page, WebSocket feed, REST API and Prometheus metrics.

Routes: ``/`` (dashboard), ``/static/...``, ``/ws`` (feed, docs/feed.md), ``/api/graph``,
``/api/nodes``, ``/api/nodes/{id}``, ``/api/nodes/{id}/params`` (GET/POST),
``/api/edits`` (POST an edit, GET the journal), ``/api/config`` (the live config),
``/api/plugins/{name}/reload`` (POST), ``/api/metrics`` (JSON), ``/metrics`` (Prometheus
text 0.0.4), ``/openapi.json``.

Every error answer of the REST API is the feed's ``error`` body (``{"v", "type": "error",
"code", "message", "req"}``, docs/feed.md), whatever refused the request: the endpoint,
request validation (a bad query), routing (404/405) or the body cap. Request bodies are
capped at :data:`MAX_BODY_BYTES` (413) before anything reads them whole, must be JSON
(``application/json``, else 415) and are parsed as strictly as WebSocket messages.

The app's lifespan starts the runtime's block thread and the feed broadcaster and stops
both on shutdown (then, with ``autosave``, stores the final session version); it does not
close the runtime (the caller owns it). Edits and reloads run on worker threads.

Example:
    >>> app = create_app(LiveRuntime.from_config(cfg, registry))    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._json import to_jsonable
from ._auth import AccessGuard
from ._autosave import Autosaver
from ._edits import EditRefused, apply_edit, parse_edit
from ._feed import ClientQueue, FeedHub
from ._http import BODY_IDLE_TIMEOUT_S, WS_MAX_BYTES
from ._messages import (
    PROTOCOL_VERSION,
    ProtocolError,
    dumps,
    error_message,
    graph_message,
    node_info,
    parse_client_message,
    parse_json,
    validate_control,
)
from ._model import Ack, Control, EditRequest
from ._patching import patching_router
from ._reload import ReloadRefused, reload_plugin
from ._runtime import LiveRuntime
from ._stats import live_summary, prometheus
from ._undo import UNDO_AUTHOR

STATIC_DIR = Path(str(files("aers_host.server") / "static"))
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds a REST parameter change waits for the block that applies it.
ACK_TIMEOUT = 2.0
#: Largest REST request body (bytes): the WebSocket's frame limit (1 MiB).
MAX_BODY_BYTES = WS_MAX_BYTES
#: Bytes of a refused (413) body read and dropped so the client gets the answer, not a
#: reset (see :class:`BodyLimit`); a longer body is cut off after them.
MAX_DRAIN_BYTES = 64 << 20
#: Journal authors the server writes itself, for its own channels; a ``?who=`` may not
#: claim one of them (an edit posted as ``rollback`` would pass for an automatic
#: rollback), except the endpoint's own default (``rest`` for edits, ``reload`` for
#: reloads). Compared case-insensitively.
RESERVED_AUTHORS = frozenset({"rest", "ws", "reload", "rollback", UNDO_AUTHOR})
#: ``?who=`` of the REST endpoints that journal (checked, then :data:`RESERVED_AUTHORS`).
Who = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[\w.@:-]+$")]
#: Error code of a refusal by HTTP status (errors not raised as a :class:`RestError`).
_STATUS_CODES = {
    400: "bad_message",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "bad_message",
    422: "bad_message",
    503: "busy",
    504: "timeout",
}
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


class RestError(Exception):
    """A refused REST request, answered with the feed's ``error`` body and ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = ProtocolError(code, message)
        self.headers = headers

    def response(self) -> JSONResponse:
        """The answer: ``{"v": 1, "type": "error", "code", "message", "req": null}``."""
        return error_response(self.status, self.error, self.headers)


def error_response(
    status: int, err: ProtocolError, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An HTTP error answer with the feed's ``error`` body."""
    return JSONResponse(error_message(err), status_code=status, headers=headers)


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
            raise RestError(404, "unknown_node", f"no node {node_id!r} in this graph")
        return index, view

    @app.exception_handler(RestError)
    async def rest_error(_: Request, err: RestError) -> JSONResponse:
        return err.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(err.status_code, "http_error")
        return error_response(err.status_code, ProtocolError(code, str(err.detail)), err.headers)

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, err: RequestValidationError) -> JSONResponse:
        return _validation_response(err)

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

    @app.post(
        "/api/edits",
        summary="Apply a live edit (an op or a list); acked with its sample",
        openapi_extra={"requestBody": _EDIT_BODY},
    )
    async def post_edit(request: Request, who: Who = "rest") -> JSONResponse:
        _check_author(who, "rest")
        ops = await json_body(request)
        try:
            ack = await asyncio.to_thread(apply_edit, runtime, ops, who, None, saved)
        except EditRefused as err:
            return JSONResponse(err.body, status_code=err.status)
        return JSONResponse(ack)

    app.include_router(patching_router(runtime, saved))  # before /api/edits: undo is its own

    @app.get("/api/edits", summary="The journal of applied edits")
    async def get_edits() -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "journal": list(runtime.live.journal)}

    @app.get("/api/config", summary="The live config (what an offline render needs)")
    async def get_config() -> dict[str, Any]:
        return dict(runtime.live.config.data)

    @app.post("/api/plugins/{name}/reload", summary="Re-verify a store plugin and hot-swap it")
    async def post_reload(request: Request, name: str, who: Who = "reload") -> JSONResponse:
        _check_author(who, "reload")
        if await request.body():  # nothing to say but an empty object (the CLI sends {})
            body = await json_body(request)
            if body != {}:
                raise RestError(422, "bad_message", "a reload takes no body (or {})")
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
        openapi_extra={"requestBody": _PARAM_BODY},
    )
    async def post_param(request: Request, node_id: str) -> dict[str, Any] | JSONResponse:
        node_index(node_id)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise RestError(422, "bad_message", 'the body must be a JSON object {"param", "value"}')
        extra = sorted(set(body) - {"param", "value"})
        missing = [k for k in ("param", "value") if k not in body]
        if extra or missing:
            problem = f"unknown keys: {', '.join(extra)}" if extra else ""
            problem = problem or f"missing keys: {', '.join(missing)}"
            raise RestError(422, "bad_message", f'{problem} (expected {{"param", "value"}})')
        message = {"v": PROTOCOL_VERSION, "type": "param", "node": node_id, **body}
        try:
            control = validate_control(message, runtime)
        except ProtocolError as err:  # the feed's own error body, as docs/feed.md shows it
            return error_response(422, err)
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        if not runtime.submit(_with_origin(control, future)):
            raise RestError(503, "busy", "too many pending controls; retry")
        try:
            ack = await asyncio.wait_for(future, ACK_TIMEOUT)
        except TimeoutError as err:
            late = "the engine did not apply the change in time"
            raise RestError(504, "timeout", late) from err
        return {
            "node": node_id,
            "param": control.param,
            "value": control.value,
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

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(AccessGuard, token=token, allowed_hosts=allowed_hosts)  # outermost
    return app


async def json_body(request: Request) -> Any:
    """The request's JSON body, parsed as strictly as a WebSocket message.

    Raises:
        RestError: no body (422), not ``application/json`` (415), not JSON (400).
    """
    raw = await request.body()  # already read, within the cap, by BodyLimit
    if not raw.strip():
        raise RestError(422, "bad_message", "the request needs a JSON body")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        got = f"got {media!r}" if media else "no content-type"
        message = f"send the body as application/json ({got})"
        raise RestError(415, "bad_message", message)
    try:
        return parse_json(raw)
    except ProtocolError as err:
        raise RestError(400, err.code, err.message) from err


def _check_author(who: str, own: str) -> None:
    """Refuse a ``?who=`` that claims a journal author the server writes for another channel.

    Raises:
        RestError: 422 ``not_allowed``.
    """
    if who.casefold() in RESERVED_AUTHORS - {own}:
        raise RestError(
            422,
            "not_allowed",
            f"who={who!r} is reserved: the server writes "
            f"{', '.join(sorted(RESERVED_AUTHORS))} in the journal for its own channels",
        )


def _validation_response(err: RequestValidationError) -> JSONResponse:
    """FastAPI's request validation (query and path parameters) as an ``error`` body."""
    errors = list(err.errors())
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return error_response(400, ProtocolError("bad_json", "not valid JSON"))
    loc = [str(x) for x in first.get("loc", ())]
    where = f"{loc[-1]} ({loc[0]})" if len(loc) > 1 else ".".join(loc) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"{where}: {first.get('msg', 'invalid')}{more}"
    return error_response(422, ProtocolError("bad_message", message))


class BodyLimit:
    """ASGI middleware: HTTP request bodies over ``limit`` bytes are refused with 413.

    A ``Content-Length`` over the limit is refused before a byte of the body is read; a
    body without one (chunked) is read only up to the limit. A body within it is read
    here and handed on whole (endpoints never hold more than ``limit`` bytes). Each part
    of a body must arrive within ``idle_timeout`` seconds, else 408.

    A refusal is sent at once, then the rest of the body (up to ``drain`` bytes) is read
    and dropped before the connection closes: closing a socket with unread bytes makes
    the kernel reset it, and a client still writing its body would see that reset
    instead of the 413.
    """

    #: Seconds each part of a body may take to arrive.
    idle_timeout: float = BODY_IDLE_TIMEOUT_S
    #: Bytes of a refused body read and dropped before closing.
    drain: int = MAX_DRAIN_BYTES

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the length, read the body within the cap, then pass the request on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        declared = 0
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await self._refuse(scope, send, 400, "bad_message", "malformed Content-Length")
                return
            if declared > self.limit:
                await self._refuse(scope, send, 413, "too_large", self._too_large, receive)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                late = f"no part of the request body arrived within {self.idle_timeout:g} s"
                await self._refuse(scope, send, 408, "timeout", late)
                return
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, send, 413, "too_large", self._too_large, receive)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @property
    def _too_large(self) -> str:
        return f"request body exceeds {self.limit} bytes"

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        code: str,
        text: str,
        receive: Receive | None = None,
    ) -> None:
        """Answer ``status`` (closing the connection); with ``receive``, drain the body first.

        The answer is complete on the wire before the drain starts (its length is declared),
        so a client that reads while it writes has it at once; only the final, empty part
        that lets the server close waits for the drain.
        """
        response = error_response(status, ProtocolError(code, text), {"connection": "close"})
        body = bytes(response.body)
        await send(
            {"type": "http.response.start", "status": status, "headers": response.raw_headers}
        )
        await send({"type": "http.response.body", "body": body, "more_body": receive is not None})
        if receive is None:
            return
        dropped = 0
        with contextlib.suppress(TimeoutError):
            while dropped <= self.drain:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
                dropped += len(message.get("body", b""))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


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
