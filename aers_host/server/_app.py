"""The FastAPI app: dashboard page, WebSocket feed, REST API and Prometheus metrics.

:func:`create_app` only assembles: the shared state, one router per concern (``_routes``:
static, nodes and parameters, edits, plugins, metrics, feed), the error handlers that
answer every refusal with the feed's ``error`` body (``_rest``), the body cap
(``_body``) and the access guard (``_auth``, outermost). Routes: ``/`` (dashboard),
``/static/...``, ``/ws`` (feed), ``/api/graph``, ``/api/nodes``, ``/api/nodes/{id}``,
``/api/nodes/{id}/params`` (GET/POST), ``/api/types``, ``/api/edits`` (POST an edit,
GET the journal), ``/api/edits/undo``, ``/api/config``, ``/api/plugins/{name}/reload``,
``/api/metrics``, ``/metrics`` (Prometheus text 0.0.4), ``/openapi.json`` — all
described in docs/feed.md.

The app's lifespan starts the runtime's block thread and the feed broadcaster and stops
both on shutdown (then, with ``autosave``, stores the final session version); it does not
close the runtime (the caller owns it). Edits and reloads run on worker threads.

Example:
    >>> app = create_app(LiveRuntime.from_config(cfg, registry))    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI

from ._auth import AccessGuard
from ._autosave import Autosaver
from ._body import MAX_BODY_BYTES, BodyLimit
from ._feed import FeedHub
from ._rest import install_error_handlers
from ._routes import (
    ServerState,
    edits_router,
    feed_router,
    metrics_router,
    nodes_router,
    plugins_router,
    static_router,
)
from ._runtime import LiveRuntime
from ._wire import PROTOCOL_VERSION


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
    state = ServerState(runtime, hub, rate, autosave.try_save if autosave is not None else None)

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
    app.state.aers = state  # what the routes receive (``_routes._deps``)
    install_error_handlers(app)
    for router in (
        static_router,
        nodes_router,
        edits_router,
        plugins_router,
        metrics_router,
        feed_router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(AccessGuard, token=token, allowed_hosts=allowed_hosts)  # outermost
    return app
