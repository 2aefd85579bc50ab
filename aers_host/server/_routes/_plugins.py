"""Route of installed plugins: ``POST /api/plugins/{name}/reload[?who=NAME]``.

Re-verifies a store plugin and hot-swaps it (see ``_reload`` and docs/plugins.md, *Hot
reload*) on a worker thread; a plugin that fails verification or preparation is refused
(422 ``verification_failed`` / ``prepare_failed``) and the running version stays.

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from .._reload import ReloadRefused, reload_plugin
from .._rest import RestError, Who, check_author, json_body
from .._wire import PROTOCOL_VERSION, ReloadMessage
from ._deps import Shared

router = APIRouter()


@router.post(
    "/api/plugins/{name}/reload",
    summary="Re-verify a store plugin and hot-swap it",
    response_model=None,
)
async def post_reload(
    request: Request, state: Shared, name: str, who: Who = "reload"
) -> ReloadMessage:
    """Verify the installed plugin again, swap it in, roll back if it misbehaves."""
    check_author(who, "reload")
    if await request.body():  # nothing to say but an empty object (the CLI sends {})
        body = await json_body(request)
        if body != {}:
            raise RestError.of(422, "bad_message", "a reload takes no body (or {})")
    try:
        result = await asyncio.to_thread(reload_plugin, state.runtime, name, who=who,
                                         on_applied=state.saved)  # fmt: skip
    except ReloadRefused as err:
        raise RestError.of(422, err.code, err.message) from err
    return {"v": PROTOCOL_VERSION, **result}
