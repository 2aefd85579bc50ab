"""The REST request-body cap: an ASGI middleware in front of every endpoint.

Bodies over :data:`MAX_BODY_BYTES` are refused with 413 before an endpoint reads them,
slow ones with 408 (limits and who may change them: docs/feed.md, "Limits").

Example:
    >>> app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._http import BODY_IDLE_TIMEOUT_S, WS_MAX_BYTES
from ._rest import RestError

#: Largest REST request body (bytes): the WebSocket's frame limit (1 MiB).
MAX_BODY_BYTES = WS_MAX_BYTES
#: Bytes of a refused (413) body read and dropped so the client gets the answer, not a
#: reset (see :class:`BodyLimit`); a longer body is cut off after them.
MAX_DRAIN_BYTES = 64 << 20


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
            try:  # asyncio.timeout: on 3.11, wait_for can swallow a shutdown's cancel
                async with asyncio.timeout(self.idle_timeout):
                    message = await receive()
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
        response = RestError.of(status, code, text, {"connection": "close"}).response()
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
                async with asyncio.timeout(self.idle_timeout):
                    message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
                dropped += len(message.get("body", b""))
        await send({"type": "http.response.body", "body": b"", "more_body": False})
