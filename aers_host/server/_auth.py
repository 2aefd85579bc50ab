"""Access control for every HTTP request and WebSocket handshake (a pure ASGI middleware).

Checks, in order, before the app sees anything:

1. Host allowlist (when configured; the CLI sets it to loopback names on loopback binds):
   refuses DNS-rebinding pages that reach ``127.0.0.1`` under a foreign name.
2. WebSocket ``Origin``: a browser handshake must come from the page's own origin, so
   another site open in the same browser cannot drive the engine (cross-site WebSocket
   hijacking). Non-browser clients send no ``Origin`` and skip this check.
3. Token (when set): ``Authorization: Bearer T``, ``?token=T`` or the ``aers_token``
   cookie, compared with :func:`hmac.compare_digest`. A valid ``?token=`` on a page
   request sets that cookie (HttpOnly, SameSite=Strict) so the page's own assets load.

Refusals: HTTP 401/403 with a JSON body; a WebSocket is closed before it is accepted
(the client sees HTTP 403).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._messages import ProtocolError, error_message

COOKIE = "aers_token"
#: Host names a loopback-bound server answers to.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _host_name(host: str) -> str:
    return urlsplit(f"//{host}").hostname or host


class AccessGuard:
    """ASGI middleware enforcing the host allowlist, WebSocket origin and token."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, allowed_hosts: Iterable[str] | None
    ) -> None:
        """Wrap ``app``; ``allowed_hosts`` None disables the host check."""
        self.app = app
        self.token = token.encode() if token else None
        self.allowed = {h.strip("[]").lower() for h in allowed_hosts} if allowed_hosts else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on or refuse it."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        problem: tuple[int, str] | None = None
        if self.allowed is not None and _host_name(host).strip("[]").lower() not in self.allowed:
            problem = (403, "host not allowed")
        elif (
            scope["type"] == "websocket"
            and "origin" in headers
            and urlsplit(headers["origin"]).netloc.lower() != host.lower()
        ):
            problem = (403, "cross-origin WebSocket refused")
        via_query = False
        if problem is None and self.token is not None:
            presented, via_query = self._presented(scope, headers)
            if presented is None or not hmac.compare_digest(presented.encode(), self.token):
                problem = (401, "missing or wrong token")
        if problem is not None:
            await _refuse(scope, receive, send, *problem)
            return
        if via_query and scope["type"] == "http":
            send = self._set_cookie(send)
        await self.app(scope, receive, send)

    def _presented(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a malformed cookie header just means "no token"
            return None, False
        return (cookie[COOKIE].value if COOKIE in cookie else None), False

    def _set_cookie(self, send: Send) -> Send:
        assert self.token is not None
        value = f"{COOKIE}={self.token.decode()}; HttpOnly; SameSite=Strict; Path=/"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode())]
            await send(message)

        return wrapped


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    code = "unauthorized" if status == 401 else "forbidden"
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    body = error_message(ProtocolError(code, reason))
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
