"""Live edits over REST and the WebSocket: validate, prepare, wait for the swap, acknowledge.

An edit (one operation or a list, see :mod:`aers_host.live`) is validated and prepared by
:meth:`LiveRuntime.submit_edit` on a worker thread — never on the event loop (preparing a
sandboxed plugin starts a process) and never on the audio thread. The answer is either an
``ack`` carrying the sample index at which the edit took effect, or an ``error`` listing
every problem (``path``, ``message``, ``hint``), in which case nothing changed.

Message shapes (feed schema v1, docs/feed.md):

* client → server ``{"v": 1, "type": "edit", "ops": [...], "req"?}``
* server → client ``{"v": 1, "type": "ack", "req", "edit": {"who", "ops"}, "sample",
  "latency_before", "latency_after"}``
* server → every client, once the fade has finished: ``{"v": 1, "type": "edited", ...}``
  (the journal entry) followed by a fresh ``graph``.

Example:
    >>> edit_error(GraphError("split the edit"))["code"]
    'edit_refused'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AersError, ConfigError, GraphError
from ..live import EditTicket, JournalEntry
from ._messages import ProtocolError
from ._wire import (
    PROTOCOL_VERSION,
    EditAck,
    EditedMessage,
    EditMessage,
    ErrorMessage,
    Problem,
    Req,
    error_body,
    keys_of,
)

if TYPE_CHECKING:
    from ._runtime import LiveRuntime

#: Seconds an edit request waits for the block that puts it live.
EDIT_ACK_TIMEOUT = 5.0
_EDIT_KEYS = keys_of(EditMessage)


class EditRefused(Exception):
    """An edit that changed nothing; ``body`` is the ``error`` message to send back."""

    def __init__(self, body: ErrorMessage, status: int = 422) -> None:
        super().__init__(body["message"])
        self.body = body
        self.status = status


def edit_error(err: AersError, req: Req = None) -> ErrorMessage:
    """``error`` for a refused edit: the message shape of every error plus each problem."""
    problems: list[Problem]
    if isinstance(err, ConfigError):
        code = "invalid_edit"
        problems = [{"path": p.path, "message": p.message, "hint": p.hint} for p in err.problems]
    else:
        code = "edit_refused"
        problems = [{"path": "edit", "message": line, "hint": ""} for line in str(err).splitlines()]
    message = problems[0]["message"] if problems else str(err)
    return error_body(code, message, req, problems=problems)


def edit_ack(ticket: EditTicket, req: Req = None) -> EditAck:
    """``ack`` of an applied edit: who, what, and the sample it went live at."""
    return {
        "v": PROTOCOL_VERSION,
        "type": "ack",
        "req": req,
        "edit": {"who": ticket.who, "ops": list(ticket.ops)},
        "sample": ticket.sample,
        "latency_before": ticket.latency_before,
        "latency_after": ticket.latency_after,
        "handover": dict(ticket.handover),
    }


def edited_message(entry: JournalEntry) -> EditedMessage:
    """``edited``: an edit finished fading in; a ``graph`` message follows it."""
    return {"v": PROTOCOL_VERSION, "type": "edited", **entry}


def parse_edit(data: Mapping[str, Any]) -> tuple[Any, Req]:
    """The ops and ``req`` of a WebSocket ``edit`` message (its shape only).

    Raises:
        ProtocolError: unknown keys or a malformed ``req``.
    """
    req = data.get("req")
    extra = sorted(set(data) - _EDIT_KEYS)
    if extra:
        raise ProtocolError("bad_message", f"unknown keys: {', '.join(extra)}")
    if isinstance(req, bool) or not (
        req is None or isinstance(req, int) or (isinstance(req, str) and len(req) <= 64)
    ):
        raise ProtocolError("bad_message", "req must be an integer or a string of ≤ 64 chars")
    return data.get("ops"), req


def apply_edit(
    runtime: LiveRuntime,
    ops: Any,
    who: str,
    req: Req = None,
    on_applied: Callable[[], object] | None = None,
) -> EditAck:
    """[worker thread] Submit an edit, wait until it is live, return its ``ack``.

    Args:
        runtime: the running engine.
        ops: one operation or a list of them.
        who: recorded in the journal (``rest``, ``ws``, ``cli``, ...).
        req: echoed in the answer.
        on_applied: called once the edit is live (the session autosave); a string it
            returns is a save failure, reported in the ack's ``autosave_error``.

    Raises:
        EditRefused: the edit is invalid or cannot be prepared (nothing changed), or the
            engine did not reach a block boundary in time (status 504).
    """
    try:
        ticket = runtime.submit_edit(ops, who)
    except (ConfigError, GraphError) as err:
        raise EditRefused(edit_error(err, req)) from err
    if ticket.wait(EDIT_ACK_TIMEOUT) < 0:
        body = edit_error(GraphError("the engine did not reach a block boundary in time"), req)
        raise EditRefused(body, 504)
    ack = edit_ack(ticket, req)
    problem = on_applied() if on_applied is not None else None
    if isinstance(problem, str):  # the edit is live; only its autosave failed
        ack["autosave_error"] = problem
    return ack

