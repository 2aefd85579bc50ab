"""``aers edit URL OPS...``: edit the graph of a running ``aers serve`` (docs/dashboard.md).

Operations are JSON (one or more arguments, applied as one transaction)::

    aers edit http://127.0.0.1:8765 '{"op": "connect", "from": "a", "to": "b"}'

or one shorthand operation::

    aers edit URL connect A B [--gain-db DB] [--port main|sidechain] [--tap pre|post]
    aers edit URL disconnect A B          aers edit URL set-gain A B DB
    aers edit URL add-node ID TYPE [key=value ...]
    aers edit URL replace-node ID TYPE [key=value ...]
    aers edit URL remove-node ID          aers edit URL set-param ID NAME VALUE

``key=value`` pairs become ``params`` (values are read as JSON when they parse, else as
text). The ack (with the sample index the edit took effect at) is printed; a refused edit
prints each problem on its own line and exits 1. ``URL`` may be ``-`` for the server this
machine's ``aers serve`` announced in ``$AERS_HOME/serve.json`` (its token included).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .._paths import atomic_write, data_dir
from ..errors import AersError
from ._app import app, out_console
from ._keys import say

#: Seconds a request to the server may take (an edit waits for its block boundary).
TIMEOUT = 30.0
_SHORTHAND_ARGS = {
    "connect": 2, "disconnect": 2, "set-gain": 3, "remove-node": 1, "set-param": 3,
    "add-node": -2, "replace-node": -2,
}  # fmt: skip


class EditError(AersError):
    """An edit the server refused, or a server that cannot be reached."""


def serve_file() -> Path:
    """Where ``aers serve`` announces its URL and token (``$AERS_HOME/serve.json``)."""
    return data_dir() / "serve.json"


def announce(url: str, token: str | None) -> Path:
    """[main-thread] Write ``serve.json`` (user-only: it may hold the token)."""
    body = {"url": url, "token": token, "pid": os.getpid()}
    path = serve_file()
    atomic_write(path, json.dumps(body).encode("utf-8"), mode=0o600)
    return path


def withdraw(path: Path) -> None:
    """Remove ``serve.json`` if it is still this process's announcement."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_server() -> tuple[str, str | None] | None:
    """(URL, token) of the announced server whose process is alive, else None."""
    try:
        info = json.loads(serve_file().read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(info["url"]), info.get("token")


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    """The server to talk to: ``url`` (``-`` or None: the announced one).

    Raises:
        EditError: no URL and no running server announced.
    """
    if url in (None, "-"):
        found = running_server()
        if found is None:
            raise EditError(f"no running `aers serve` announced in {serve_file()}; pass a URL")
        return found[0], token or found[1]
    return str(url), token


def call(url: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    """POST (with ``body``) or GET ``url + path``; return (status, decoded JSON).

    Raises:
        EditError: not an http(s) URL, unreachable, or not a JSON answer.
    """
    import urllib.error
    import urllib.parse
    import urllib.request  # http.client, email: ~50 ms, for the commands that call a server

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EditError(f"{url}: expected http://HOST:PORT of a running `aers serve`")
    target = f"{parts.scheme}://{parts.netloc}{path}"
    headers = {"content-type": "application/json", "accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(target, data=data, headers=headers)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise EditError(f"cannot reach {target}: {reason}") from err
    try:
        return status, json.loads(raw or b"null")
    except ValueError as err:
        raise EditError(f"{target} answered {status} with something that is not JSON") from err


def problems_of(status: int, answer: Any) -> list[str]:
    """One line per problem in an error answer (the feed's error shape, or FastAPI's)."""
    if isinstance(answer, dict) and isinstance(answer.get("detail"), (dict, str)):
        answer = answer["detail"]
    if isinstance(answer, dict):
        lines = []
        for p in answer.get("problems") or []:
            hint = f" ({p['hint']})" if p.get("hint") else ""
            lines.append(f"{p.get('path') or 'edit'}: {p.get('message')}{hint}")
        code, message = answer.get("code", "error"), answer.get("message", answer)
        return lines or [f"{code} (HTTP {status}): {message}"]
    return [f"server answered {status}: {answer}"]


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_ops(
    args: list[str], gain_db: float | None, port: str | None, tap: str | None
) -> list[dict[str, Any]]:
    """Operations from JSON arguments or one shorthand operation (see the module docstring).

    Raises:
        EditError: malformed JSON or shorthand.
    """
    if not args:
        raise EditError("no operation given (JSON, or e.g.: connect A B)")
    if args[0].lstrip().startswith(("{", "[")):
        ops: list[dict[str, Any]] = []
        for arg in args:
            try:
                value = json.loads(arg)
            except ValueError as err:
                raise EditError(f"not JSON: {arg!r} ({err})") from err
            ops += value if isinstance(value, list) else [value]
        return ops
    verb, rest = args[0], args[1:]
    wanted = _SHORTHAND_ARGS.get(verb)
    if wanted is None:
        raise EditError(f"unknown operation {verb!r}; one of {', '.join(_SHORTHAND_ARGS)}")
    if (wanted >= 0 and len(rest) != wanted) or (wanted < 0 and len(rest) < -wanted):
        raise EditError(f"{verb}: expected {abs(wanted)} arguments, got {len(rest)}")
    op: dict[str, Any] = {"op": verb.replace("-", "_")}
    if verb in ("add-node", "replace-node"):
        pairs = [p.partition("=") for p in rest[2:]]
        if any(not sep or not key for key, sep, _ in pairs):
            raise EditError(f"{verb}: parameters are key=value")
        op.update(id=rest[0], type=rest[1])
        if pairs:
            op["params"] = {key: _value(value) for key, _, value in pairs}
    elif verb == "remove-node":
        op["id"] = rest[0]
    elif verb == "set-param":
        op.update(id=rest[0], param=rest[1], value=_value(rest[2]))
    else:
        op.update({"from": rest[0], "to": rest[1]})
        if verb == "set-gain":
            op["gain_db"] = _value(rest[2])
        elif gain_db is not None and verb == "connect":
            op["gain_db"] = gain_db
        if port is not None:
            op["port"] = port
        if tap is not None and verb == "connect":
            op["tap"] = tap
    return [op]


@app.command(context_settings={"ignore_unknown_options": True})
def edit(
    url: Annotated[str, typer.Argument(help="Server URL (http://127.0.0.1:8765), or - .")],
    ops: Annotated[list[str], typer.Argument(help="JSON ops, or one shorthand op.")],
    gain_db: Annotated[
        float | None, typer.Option("--gain-db", help="connect: the connection gain.")
    ] = None,
    port: Annotated[str | None, typer.Option("--port", help="main or sidechain.")] = None,
    tap: Annotated[str | None, typer.Option("--tap", help="connect: pre or post.")] = None,
    token: Annotated[str | None, typer.Option("--token", help="The server's token.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ack as JSON.")] = False,
) -> None:
    """Apply a live edit to a running `aers serve`; print the sample it took effect at."""
    target, secret = resolve(url, token)
    status, answer = call(target, "/api/edits?who=cli", secret, parse_ops(ops, gain_db, port, tap))
    if status != 200:
        raise EditError("\n".join(problems_of(status, answer)))
    if as_json:
        say(out_console, json.dumps(answer))
        return
    before, after = answer["latency_before"], answer["latency_after"]
    latency = f"; latency {before} → {after} samples" if before != after else ""
    say(out_console, f"✓ edit live at sample {answer['sample']}{latency}")
