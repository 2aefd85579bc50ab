"""Access control for every HTTP request and WebSocket handshake (a pure ASGI middleware).

Checks, in order, before the app sees anything:

1. Host allowlist (when configured; the CLI sets it to loopback names on loopback binds):
   refuses DNS-rebinding pages that reach ``127.0.0.1`` under a foreign name.
2. Cross-site requests (CSRF): a WebSocket handshake, and any HTTP request with a
   state-changing method (anything but GET, HEAD, OPTIONS), must come from the page's own
   origin, whatever its body and with or without a token (a loopback server without one
   is exactly what a page in the same browser could otherwise drive). A browser says
   where a request comes from in ``Sec-Fetch-Site`` (only ``same-origin``, or ``none``
   for one the user typed, pass; ``same-site`` does not: another port on localhost is
   another program) and in ``Origin`` (its host and port must be this server's ``Host``).
   Non-browser clients (the CLI, curl, scripts) send neither and skip this check.
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

from ._wire import error_body

COOKIE = "aers_token"
#: HTTP methods that change nothing, so need no cross-site check (RFC 9110 "safe").
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: ``Sec-Fetch-Site`` values of requests a page of this server (or the user) made.
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _host_name(host: str) -> str:
    return urlsplit(f"//{host}").hostname or host


def cross_site(headers: dict[str, str], host: str) -> str | None:
    """Why a browser request comes from another site than ``host`` (None: it does not).

    ``Sec-Fetch-Site`` (set by the browser, not scripts) is read first; ``Origin`` covers
    browsers that do not send it. A request with neither is not a browser's.
    """
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in SAME_ORIGIN_SITES:
        return f"cross-site request refused (Sec-Fetch-Site: {site.strip()[:40]})"
    origin = headers.get("origin")
    if origin is not None and urlsplit(origin.strip()).netloc.lower() != host.lower():
        return f"cross-origin request refused (Origin: {origin.strip()[:80]})"
    return None


class AccessGuard:
    """ASGI middleware enforcing the host allowlist, same-origin requests and the token."""

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
        elif scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS:
            why = cross_site(headers, host)
            problem = None if why is None else (403, why)
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
    body = error_body(code, reason)
    await JSONResponse(body, status_code=status, headers=headers)(scope, receive, send)
