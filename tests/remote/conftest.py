"""Remote-node fixtures: a real `aers node serve` subprocess on a loopback port."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aers_host.remote import NodeServer

TOKEN = "test-token-0123456789"
AERS = str(Path(sys.executable).with_name("aers"))
#: The options of a node on the TCP transport.
TCP = ("--transport", "tcp")


class NodeProcess:
    """One `aers node serve` subprocess; can be killed and restarted on the same port."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self.extra = extra
        self.port = 0
        self.scheme = "ws"
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The URL the node printed (``ws://`` or, with ``--transport tcp``, ``tcp://``)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [AERS, "node", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--token", TOKEN, *self.extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                line = self.proc.stderr.readline()
                if line.startswith("listening on "):
                    self.scheme = line.split()[-1].split("://")[0]
                    self.port = int(line.rsplit(":", 1)[1])
                    return
                if not line and self.proc.poll() is not None:
                    break
        self.stop()
        raise RuntimeError("aers node serve did not start")

    def kill(self) -> None:
        """SIGKILL: the node vanishes without closing its connections."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def stop(self) -> str:
        """SIGTERM and return what it printed on stderr."""
        if self.proc is None:
            return ""
        if self.proc.stderr is None or self.proc.stderr.closed:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err or ""


@pytest.fixture(scope="session")
def node_token() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AERS_NODE_TOKEN", TOKEN)
        yield TOKEN


@pytest.fixture(scope="session")
def node(node_token: str) -> Iterator[NodeProcess]:
    """One node shared by the remote tests (starting one costs seconds of imports)."""
    server = NodeProcess()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_node(node_token: str) -> Iterator[NodeProcess]:
    """A node for one test, which may kill, restart or stop it."""
    server = NodeProcess()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tcp_node(node_token: str) -> Iterator[NodeProcess]:
    """One TCP-transport node shared by the remote tests (``--transport tcp``)."""
    server = NodeProcess(TCP)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["websocket", "tcp"])
def any_node(request: pytest.FixtureRequest) -> NodeProcess:
    """The shared node of each transport in turn (started on first use)."""
    node: NodeProcess = request.getfixturevalue("node" if request.param == "websocket"
                                                else "tcp_node")  # fmt: skip
    return node


@pytest.fixture(params=[(), TCP], ids=["websocket", "tcp"])
def own_any_node(request: pytest.FixtureRequest, node_token: str) -> Iterator[NodeProcess]:
    """A node of each transport in turn for one test, which may kill, restart or stop it."""
    server = NodeProcess(request.param)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def slow_node(node_token: str) -> Iterator[NodeProcess]:
    """A node that answers every block 40 ms late (``--delay-ms``, the testing aid)."""
    server = NodeProcess(("--delay-ms", "40"))
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def serving(server: NodeServer) -> Iterator[int]:
    """Run an in-process ``server`` on a loopback port (yielded); stop it and check it ended."""
    ready = threading.Event()
    bound: list[int] = []

    def on_ready(_host: str, port: int) -> None:
        bound.append(port)
        ready.set()

    thread = threading.Thread(target=server.serve_forever, args=("127.0.0.1", 0, on_ready))
    thread.start()
    assert ready.wait(30)
    try:
        yield bound[0]
    finally:
        server.stop()
        thread.join(15)
        assert not thread.is_alive()


def env_with_token() -> dict[str, str]:
    return {**os.environ, "AERS_NODE_TOKEN": TOKEN}
