"""uvicorn as ``aers serve`` runs it: no client holds a connection by being slow.

uvicorn (h11) arms a timer only *between* requests (``timeout_keep_alive``): a client that
connects and sends nothing, or dribbles its request headers a byte at a time
(slowloris), holds its connection and its socket forever. :class:`TimedH11Protocol`
arms a header-read timer when a connection opens and again after every response; the
request's headers must be complete within :data:`HEADER_TIMEOUT_S`, else the connection is
closed (no response: h11 cannot answer a request it has not read). A WebSocket upgrade
disarms it (the feed's own life is the app's business). Slow *bodies* are bounded by the
app (``BodyLimit``: :data:`BODY_IDLE_TIMEOUT_S` per read, answered 408). Limits and who
may change them: ``docs/feed.md``, "Limits".

Example:
    >>> config = server_config(app, "127.0.0.1", 8000)        # doctest: +SKIP
    >>> uvicorn.Server(config).run()                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a client has, from connecting (or from the last response), to send a request's
#: complete headers.
HEADER_TIMEOUT_S: Final = 10.0
#: Seconds a kept-alive connection may sit idle between requests.
KEEP_ALIVE_S: Final = 5
#: Seconds the app waits for each part of a request body before answering 408.
BODY_IDLE_TIMEOUT_S: Final = 10.0
#: Seconds a stop signal waits for open connections and in-flight requests before they
#: are cancelled: no client, however stuck, keeps Ctrl-C from stopping the server (the
#: audio, recording and session are written after this).
SHUTDOWN_GRACE_S: Final = 5
#: Largest WebSocket message the feed accepts (the REST body cap is the same).
WS_MAX_BYTES: Final = 1 << 20


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout (see the module docstring)."""

    header_timeout: float = HEADER_TIMEOUT_S
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the connection and its header timer."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timer with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Run uvicorn's event loop; a request whose headers arrived disarms the timer."""
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a new request's headers are complete
            self._disarm()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """Hand the connection to the WebSocket protocol, without our timer."""
        self._disarm()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        """After a response, the next request's headers get their own deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and (
            self.cycle is None or self.cycle.response_complete
        ):
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            with contextlib.suppress(h11.LocalProtocolError):  # mid-request: nothing to say
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn config of ``aers serve``: timed h11, no WebSocket compression, caps.

    Keyword ``options`` are passed to :class:`uvicorn.Config` (they win).
    """
    settings: dict[str, Any] = {
        "http": TimedH11Protocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_S,
        "ws_per_message_deflate": False,  # float audio barely compresses; it triples latency
        "ws_max_size": WS_MAX_BYTES,
        "log_level": "warning",
        **options,
    }
    return uvicorn.Config(app, host=host, port=port, **settings)
