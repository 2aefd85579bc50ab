"""``aers node serve``: run a remote processing node (docs/remote.md)."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .._extras import require_extra
from ..errors import AersError
from ._app import app, err_console

node_app = typer.Typer(help="Remote processing nodes (WebSocket or TCP).", no_args_is_help=True)
app.add_typer(node_app, name="node")


class Transport(enum.StrEnum):
    """What a node listens with (docs/remote.md, "Choosing a transport")."""

    websocket = "websocket"
    tcp = "tcp"


class NodeConfigError(AersError):
    """The node cannot start: bad token, chain file or address."""


def _chain_from_file(path: Path) -> list[Any]:
    from ..config import parse_text
    from ..config._parse import read_config_text
    from ..remote import chain_shape_problems

    doc = parse_text(read_config_text(path), str(path))
    data = doc.data
    chain = data.get("chain") if isinstance(data, dict) else data
    problems = chain_shape_problems(chain)
    if problems:
        raise NodeConfigError("\n".join(f"{path}: {p}" for p in problems))
    return list(chain) if isinstance(chain, list) else []


@node_app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0 picks a free one).")
    ] = 8765,
    token: Annotated[
        str | None, typer.Option("--token", help="Shared secret clients must present.")
    ] = None,
    token_env: Annotated[
        str | None, typer.Option("--token-env", help="Read the token from this env variable.")
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option(
            "--chain", help="Fixed chain (YAML/JSON `chain: [...]`) instead of the client's."
        ),
    ] = None,
    delay_ms: Annotated[
        float,
        typer.Option(
            "--delay-ms", min=0.0, max=10000.0, help="Testing aid: delay every result (slow node)."
        ),
    ] = 0.0,
    transport: Annotated[
        Transport,
        typer.Option(
            "--transport",
            help="websocket (ws://, through proxies) or tcp (tcp://, lowest latency on a "
            "host or LAN).",
        ),
    ] = Transport.websocket,
) -> None:
    """Serve processor chains to `remote` graph nodes until interrupted."""
    if transport is Transport.websocket:
        require_extra("remote", "aers node serve")
    from .._builtins import default_registry
    from ..remote import MIN_TOKEN_LENGTH, Chain, ChainError, NodeServer

    if token is None and token_env and token_env not in os.environ:
        raise NodeConfigError(f"--token-env {token_env}: that environment variable is not set")
    secret = token if token is not None else os.environ.get(token_env or "", "")
    if len(secret) < MIN_TOKEN_LENGTH:
        raise NodeConfigError(
            f"give a token of at least {MIN_TOKEN_LENGTH} characters with --token or --token-env"
        )
    fixed = _chain_from_file(chain) if chain is not None else None
    registry = default_registry()
    server = NodeServer(
        secret, registry=registry, chain=fixed, delay_ms=delay_ms, transport=transport.value
    )
    if fixed is not None:
        try:  # fail now, not at the first client, when the chain cannot run here
            Chain.build(fixed, registry, 48_000, 512, 2).close()
        except ChainError as err:
            raise NodeConfigError("\n".join(f"{chain}: {p}" for p in err.problems)) from err

    scheme = "tcp" if transport is Transport.tcp else "ws"

    def ready(bound_host: str, bound_port: int) -> None:
        # plain print, flushed: scripts and tests wait for this exact line
        print(f"listening on {scheme}://{bound_host}:{bound_port}", file=sys.stderr, flush=True)

    try:
        server.serve_forever(host, port, ready)
    except OSError as err:
        raise NodeConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    finally:
        stats = server.stats
        err_console.print(
            f"node stopped: {stats.connections} connections, {stats.blocks} blocks, "
            f"{stats.refused} refused, {stats.malformed} malformed"
        )
