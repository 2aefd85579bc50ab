"""REST refusals: one exception, one answer shape, and the app's error handlers.

Every error answer of the REST API is the feed's ``error`` body (:func:`error_body`,
docs/feed.md "REST errors"), whatever refused the request: an endpoint (raising
:class:`RestError`), request validation (a bad query), routing (404/405) or the body cap.
Request bodies are parsed as strictly as WebSocket messages (:func:`json_body`).

Example:
    >>> RestError.of(404, "unknown_node", "no node 'x' in this graph").body["code"]
    'unknown_node'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ._messages import ProtocolError, parse_json
from ._undo import UNDO_AUTHOR
from ._wire import ErrorMessage, error_body

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


class RestError(Exception):
    """A refused REST request, answered with ``body`` (an ``error``) and ``status``."""

    def __init__(
        self, status: int, body: ErrorMessage, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(body["message"])
        self.status = status
        self.body = body
        self.headers = headers

    @classmethod
    def of(
        cls, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> RestError:
        """A refusal with ``code`` and ``message`` (no request id, no hint)."""
        return cls(status, error_body(code, message), headers)

    def response(self) -> JSONResponse:
        """The answer: ``{"v": 1, "type": "error", "code", "message", "req": null, ...}``."""
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refusal — ours, routing's, request validation's — with the error body."""

    @app.exception_handler(RestError)
    async def rest_error(_: Request, err: RestError) -> JSONResponse:
        return err.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(err.status_code, "http_error")
        return RestError.of(err.status_code, code, str(err.detail), err.headers).response()

    @app.exception_handler(RequestValidationError)
    async def request_error(_: Request, err: RequestValidationError) -> JSONResponse:
        return validation_error(err).response()


def validation_error(err: RequestValidationError) -> RestError:
    """FastAPI's request validation (query and path parameters) as an ``error``."""
    errors = list(err.errors())
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return RestError.of(400, "bad_json", "not valid JSON")
    loc = [str(x) for x in first.get("loc", ())]
    where = f"{loc[-1]} ({loc[0]})" if len(loc) > 1 else ".".join(loc) or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return RestError.of(422, "bad_message", f"{where}: {first.get('msg', 'invalid')}{more}")


async def json_body(request: Request) -> Any:
    """The request's JSON body, parsed as strictly as a WebSocket message.

    Raises:
        RestError: no body (422), not ``application/json`` (415), not JSON (400).
    """
    raw = await request.body()  # already read, within the cap, by BodyLimit
    if not raw.strip():
        raise RestError.of(422, "bad_message", "the request needs a JSON body")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        got = f"got {media!r}" if media else "no content-type"
        raise RestError.of(415, "bad_message", f"send the body as application/json ({got})")
    try:
        return parse_json(raw)
    except ProtocolError as err:
        raise RestError.of(400, err.code, err.message) from err


def check_author(who: str, own: str) -> None:
    """Refuse a ``?who=`` that claims a journal author the server writes for another channel.

    Raises:
        RestError: 422 ``not_allowed``.
    """
    if who.casefold() in RESERVED_AUTHORS - {own}:
        raise RestError.of(
            422,
            "not_allowed",
            f"who={who!r} is reserved: the server writes "
            f"{', '.join(sorted(RESERVED_AUTHORS))} in the journal for its own channels",
        )
