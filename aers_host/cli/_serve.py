"""``aers serve``: run a graph in real time and serve the live dashboard (docs/dashboard.md).

Binds to loopback by default. Any other address exposes engine controls to the network,
so it needs ``--token``; with a token every request and WebSocket must present it.

While it runs, ``$AERS_HOME/serve.json`` (user-only) announces its URL and token, so
``aers edit -``, ``aers plugin reload`` and ``aers plugin install`` find it; the file is
removed on exit. ``--session NAME`` saves the live graph and its edit journal after every
edit and at exit; ``--record DIR`` writes what the outputs played (docs/dashboard.md).
``--jack`` plays the live graph through JACK and feeds its ``input`` nodes from it; JACK's
clock then paces the engine (docs/live-audio.md).
"""

from __future__ import annotations

import errno
import ipaddress
import re
import signal
import socket
import sys
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._extras import require_extra
from ..device import DEFAULT_PERIODS
from ..errors import AersError, AudioDeviceError
from ._app import app, err_console
from ._edit import announce, withdraw
from ._graph import ThreadsOpt, with_threads
from ._run import ClientNameOpt, ConnectOpt, JackOpt, PeriodsOpt

if TYPE_CHECKING:
    from ..device import JackDevice

#: Tokens are URL-safe so they can travel in ``?token=`` and a cookie unchanged.
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,256}")
#: Names a loopback bind answers to (Host header allowlist against DNS rebinding).
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


class ServeError(AersError):
    """A refused ``aers serve`` invocation."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), made before serving.

    Raises:
        ServeError: the address is taken or cannot be bound, in one line.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as err:
        hint = "pick another --port" if err.errno == errno.EADDRINUSE else "check --host"
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err} ({hint})") from err


def check_binding(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token, and malformed tokens.

    Raises:
        ServeError: with a one-line reason.
    """
    if token is not None and not _TOKEN_RE.fullmatch(token):
        raise ServeError("--token must be 16-256 characters of A-Z a-z 0-9 . _ ~ -")
    if not is_loopback(host) and token is None:
        raise ServeError(
            f"binding to {host} exposes engine controls to the network; "
            "pass --token SECRET (every request must then present it) or bind to 127.0.0.1"
        )


@app.command()
def serve(
    config: Annotated[Path, typer.Argument(help="Routing config (YAML or JSON).")],
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the dashboard in a browser.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Secret every request must present (required off loopback)."),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=1.0, max=120.0, help="Feed frames per second.")
    ] = 30.0,
    crossfade_ms: Annotated[
        float, typer.Option("--crossfade-ms", min=0.1, max=1000.0, help="Live-edit fade length.")
    ] = 10.0,
    session: Annotated[
        str | None, typer.Option("--session", help="Autosave the live graph as this session.")
    ] = None,
    record: Annotated[
        Path | None, typer.Option("--record", help="Write the outputs' audio here at exit.")
    ] = None,
    record_seconds: Annotated[
        float, typer.Option("--record-seconds", min=0.1, max=3600.0, help="Recording room.")
    ] = 60.0,
    jack: JackOpt = False,
    client_name: ClientNameOpt = "aers",
    connect: ConnectOpt = False,
    jack_periods: PeriodsOpt = DEFAULT_PERIODS,
    threads: ThreadsOpt = None,
) -> None:
    """Run CONFIG in real time and serve the live dashboard, WebSocket feed and REST API."""
    require_extra("serve", "aers serve")
    check_binding(host, token)
    listener = listen(host, port)  # before anything is announced: a taken port fails here
    device = None
    try:
        if jack:
            from ..device import JackDevice

            require_extra("jack", "aers serve --jack")
            device = JackDevice.open(client_name, periods=jack_periods)
        _serve(listener, config, host, token, open_browser, rate, crossfade_ms, session,
               record, record_seconds, device, connect, threads)  # fmt: skip
    finally:
        listener.close()
        if device is not None:
            device.close()


def _serve(
    listener: socket.socket,
    config: Path,
    host: str,
    token: str | None,
    open_browser: bool,
    rate: float,
    crossfade_ms: float,
    session: str | None,
    record: Path | None,
    record_seconds: float,
    device: JackDevice | None = None,
    connect: bool = False,
    threads: str | None = None,
) -> None:
    from .._builtins import default_registry
    from ..config import load_config
    from ..dsp import warm_kernels
    from ..server import (
        Autosaver,
        LiveRuntime,
        Recorder,
        create_app,
        gil_switch_interval,
        live_summary,
    )
    from ..server._http import server_config
    from ..server._serving import StoppableServer

    port = listener.getsockname()[1]
    registry = default_registry()
    # With JACK, the server's period is the block size; its rate must be the config's.
    overrides = {"block_size": device.period} if device is not None else {}
    cfg = with_threads(load_config(config, registry=registry, overrides=overrides), threads)
    if device is not None:
        device.check_rate(cfg.sample_rate, str(config))
    warm_kernels(registry.values())  # a live edit never compiles a kernel on the audio thread
    runtime = LiveRuntime.from_config(cfg, registry, crossfade_ms=crossfade_ms)
    if record is not None:
        runtime.recorder = Recorder.for_view(runtime.view, record_seconds)
    saver = Autosaver(runtime, session) if session else None
    allowed = None if token else {*_LOOPBACK_NAMES, host}
    application = create_app(runtime, token, rate=rate, allowed_hosts=allowed, autosave=saver)
    # Process-wide, so set here by the process owner (see gil_switch_interval for why).
    sys.setswitchinterval(gil_switch_interval(cfg.block_size, cfg.sample_rate))
    server = StoppableServer(server_config(application, host, port, lifespan="on"))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    err_console.print(
        f"[green]✓[/green] {len(cfg.nodes)} nodes live at {cfg.sample_rate} Hz, "
        f"block {cfg.block_size}; dashboard → {url}  (Ctrl-C stops)",
        soft_wrap=True,
    )
    if device is not None:
        # The first /api/metrics imports the metrics stack (matplotlib among it): 1.4 s
        # holding the GIL, which JACK's callback needs every period (measured: ~80 JACK
        # xruns at that first request). Pay it now, before the client is active.
        live_summary(runtime)
        runtime.use_device(device, connect=connect)
        runtime.on_device_lost = lambda: setattr(server, "should_exit", True)
        err_console.print(
            f"  JACK client {device.name!r}: block {device.period} at {device.sample_rate} Hz, "
            f"+{device.ring_latency} frames of pre-roll (docs/live-audio.md)",
            soft_wrap=True,
        )
    if open_browser:
        webbrowser.open(url)
    announced = announce(f"http://{shown}:{port}", token)
    import asyncio  # the server stack has imported it by now; named here for the except

    try:
        server.run(sockets=[listener])
    except asyncio.CancelledError:  # a second Ctrl-C cancelled the graceful shutdown
        if server.stopped_by is None:
            raise
    finally:
        withdraw(announced)
        try:
            runtime.close()
        finally:  # what the outputs played is written even when closing a node fails
            if record is not None and runtime.recorder is not None:
                for path in runtime.recorder.write(record):
                    err_console.print(f"recorded {path}", soft_wrap=True)
    if runtime.device_error is not None:
        raise AudioDeviceError(
            f"{runtime.device_error} after {runtime.blocks} blocks; aers serve stopped"
        )
    if server.stopped_by is not None:
        name = signal.Signals(server.stopped_by).name
        err_console.print(
            f"stopped by {name} after {runtime.blocks} blocks ({runtime.xruns} late)",
            soft_wrap=True,
        )
        raise KeyboardInterrupt  # the CLI's funnel: "interrupted", exit 130
