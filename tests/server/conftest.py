"""Fixtures for the live server: small configs, runtimes and in-process app clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from graphs import Registry

from aers_host import load_config
from aers_host.server import LiveRuntime, create_app
from aers_host.server._http import server_config

from .browser import chromium, page  # noqa: F401  (the browser tests' fixtures)
from .server_helpers import DEMO, write_config


@pytest.fixture
def make_runtime(tmp_path: Path, registry: Registry) -> Iterator[Callable[..., LiveRuntime]]:
    """Build runtimes from config text; every one is closed after the test."""
    made: list[LiveRuntime] = []

    def make(text: str = DEMO, **options: object) -> LiveRuntime:
        cfg = load_config(write_config(tmp_path, text, f"g{len(made)}.yaml"), registry=registry)
        runtime = LiveRuntime.from_config(cfg, registry, **options)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


@dataclass
class Served:
    """A real uvicorn server (in a thread) around an app, with its URLs."""

    app: FastAPI
    runtime: LiveRuntime
    http: str
    ws: str

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.http, timeout=10.0, **kwargs)


@pytest.fixture
def serve(make_runtime: Callable[..., LiveRuntime]) -> Iterator[Callable[..., Served]]:
    """Start the app on a free loopback port; stopped (and the runtime closed) afterwards."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(
        text: str = DEMO, *, token: str | None = None, rate: float = 30.0, **options: Any
    ) -> Served:
        runtime = make_runtime(text)
        if callable(options.get("autosave")):  # a factory that needs the runtime
            options["autosave"] = options["autosave"](runtime)
        app = create_app(runtime, token, rate=rate, allowed_hosts={"127.0.0.1"}, **options)
        server = uvicorn.Server(server_config(app, "127.0.0.1", 0))  # as `aers serve` runs it
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        running.append((server, thread))
        return Served(app, runtime, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)
