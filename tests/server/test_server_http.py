"""Slow and half-open clients cannot hold ``aers serve``'s connections (``server._http``).

Attacks (hardening review): a client that connects and sends nothing, or dribbles its
headers (slowloris), or declares a body and never sends it, was held forever. The server
under test runs with the same uvicorn settings as ``aers serve`` (``server_config``);
the timeouts are shortened so each test takes about a second.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest
from websockets.sync.client import connect

from aers_host.server._body import BodyLimit
from aers_host.server._http import TimedH11Protocol

from .conftest import Served

Serve = Callable[..., Served]
SHORT = 0.5


@pytest.fixture
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TimedH11Protocol, "header_timeout", SHORT)
    monkeypatch.setattr(BodyLimit, "idle_timeout", SHORT)


def _raw(served: Served) -> socket.socket:
    host, port = served.http.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20 * SHORT)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a socket timeout fails the test)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.security
@pytest.mark.parametrize("sent", [b"", b"GET /api/graph HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "])
def test_silent_or_slow_header_clients_are_disconnected(
    serve: Serve, short_timeouts: None, sent: bytes
) -> None:
    served = serve()
    with _raw(served) as sock:
        sock.sendall(sent)
        assert _read_all(sock) == b""  # closed by the server, no answer to half a request


@pytest.mark.security
def test_a_body_that_never_arrives_is_answered_408(serve: Serve, short_timeouts: None) -> None:
    served = serve()
    with _raw(served) as sock:
        sock.sendall(
            b"POST /api/edits HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        head, _, body = _read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    answer = json.loads(body)
    assert (answer["type"], answer["code"]) == ("error", "timeout")


def test_kept_alive_requests_and_the_feed_outlive_the_header_timeout(
    serve: Serve, short_timeouts: None
) -> None:
    served = serve()
    with served.client() as http:
        assert http.get("/api/graph").status_code == 200
        assert http.get("/api/nodes").status_code == 200  # same connection, new deadline
    with connect(served.ws) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "graph"
        time.sleep(3 * SHORT)  # the header timer must not close an upgraded connection
        ws.recv(timeout=5)
