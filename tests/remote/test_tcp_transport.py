"""The TCP transport (``tcp://``, ``aers node serve --transport tcp``) on its own terms.

Renders through it are exact; every refusal the WebSocket node makes at its handshake
(token, browsers) the TCP node makes at the HELLO or the first bytes, with a clear message;
a frame over its bound, with a bad header or a bad HELLO closes only that connection; a
hostile node's HELLO or frame is refused by the client. Results that the TCP and WebSocket
transports share (latency compensation, reconnection after a killed node, token refusal
through ``build_plan``) are tested once for both in ``test_remote_render``/``test_faults``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from graphs import Registry

from aers_host._timing import OFFLINE
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.errors import GraphError
from aers_host.graph import render
from aers_host.remote import (
    BLOCK,
    HELLO,
    MAX_MESSAGE,
    NodeServer,
    RemoteProcessor,
    encode_block,
    encode_json,
    parse_frame,
)
from aers_host.remote._linkbase import Rings
from aers_host.remote._protocol import MAX_JSON_BYTES, RESULT
from aers_host.remote._tcp import FrameReader, send_message, tune
from aers_host.remote._tcp_link import TcpLink

from .conftest import TOKEN, NodeProcess, serving
from .test_offline_determinism import busy_loops

STREAM = {"sample_rate": 48_000, "block_size": 64, "channels": 1, "chain": []}
#: One byte over the largest first message (a HELLO) a TCP node reads.
HELLO_CAP = 32 + MAX_JSON_BYTES + 1


def connect(node: NodeProcess) -> tuple[socket.socket, FrameReader]:
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    tune(sock)
    return sock, FrameReader(sock)


def say(sock: socket.socket, message: bytes) -> None:
    send_message(sock, bytearray(4), message)


def hello(**over: Any) -> bytes:
    return encode_json(HELLO, {"token": TOKEN, **STREAM, **over})


def refusal(sock: socket.socket, reader: FrameReader) -> dict[str, Any]:
    """The node's ERROR, after which it must have closed the connection."""
    frame = parse_frame(reader.read(MAX_MESSAGE) or b"")
    body = frame.json()
    assert frame.type == 3, body  # ERROR
    with pytest.raises(EOFError):
        reader.read(MAX_MESSAGE)
    sock.close()
    return body


# -- exactness -------------------------------------------------------------------------

DELAY = [{"type": "delay", "params": {"samples": 700, "feedback": 0.5, "mix": 0.5}}]


def graph(processor: dict[str, Any], block: int) -> dict[str, Any]:
    return {
        "version": 1, "sample_rate": 48_000, "block_size": block, "duration": 0.2,
        "nodes": {
            "src": {"type": "noise", "params": {"level_db": -6, "seed": 4, "channels": 2}},
            "fx": processor,
            "out": {"type": "output"},
        },
        "connections": [{"from": "src", "to": "fx"}, {"from": "fx", "to": "out"}],
    }  # fmt: skip


def rendered(registry: Registry, doc: dict[str, Any], **kwargs: Any) -> Any:
    config = validate_config_data(ParsedDocument(doc, "<tcp>"), registry=registry,
                                  base_dir=Path("."))  # fmt: skip
    return render(config, registry, out_dir=None, capture=True, **kwargs)


@pytest.mark.slow
def test_tcp_linked_render_under_load_equals_the_local_chain_at_every_block_size(
    registry: Registry,
    tcp_node: NodeProcess,
) -> None:
    """A feedback delay on the node equals the same delay run locally, bit for bit."""
    local = rendered(registry, graph(DELAY[0], 512)).captured["out"]
    assert np.abs(local).max() > 0.01
    remote = {"type": "remote", "params": {"url": tcp_node.url, "token_env": "AERS_NODE_TOKEN",
                                           "latency_blocks": 0, "chain": DELAY}}  # fmt: skip
    quiet = rendered(registry, graph(remote, 512))  # also loads the node's kernels before the load
    np.testing.assert_array_equal(quiet.captured["out"], local)
    with busy_loops():
        for block in (32, 100, 4096):
            result = rendered(registry, graph(remote, block))
            assert result.substituted == {}, (block, result.substituted)
            np.testing.assert_array_equal(result.captured["out"], local, err_msg=f"{block}")


def test_session_state_travels_over_tcp(registry: Registry, tcp_node: NodeProcess) -> None:
    """Save halfway, resume: the remote delay line and the block in flight come back."""
    remote = {"type": "remote", "params": {"url": tcp_node.url, "token_env": "AERS_NODE_TOKEN",
                                           "latency_blocks": 1, "chain": DELAY}}  # fmt: skip
    whole = rendered(registry, graph(remote, 100)).captured["out"]
    half = graph(remote, 100)
    half["duration"] = 0.1
    first = rendered(registry, half)
    assert "chain_state" in first.state["nodes"]["fx"]
    second = rendered(registry, half, initial_state=first.state)
    joined = np.concatenate([first.captured["out"], second.captured["out"]], axis=1)
    np.testing.assert_array_equal(joined, whole)


# -- refusals by the node --------------------------------------------------------------


@pytest.mark.security
@pytest.mark.parametrize("token", ["wrong-token-xxxxxxxx", None, 12345678])
def test_wrong_or_missing_token_is_refused_before_the_chain_is_looked_at(
    tcp_node: NodeProcess, token: object
) -> None:
    sock, reader = connect(tcp_node)
    body = {**STREAM, "chain": [{"type": "no-such-type"}]}  # would be refused as a chain
    if token is not None:
        body["token"] = token
    say(sock, encode_json(HELLO, body))
    answer = refusal(sock, reader)
    assert answer == {"error": "invalid or missing node token", "status": 401}


@pytest.mark.security
@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (struct.pack("<I", HELLO_CAP), f"length {HELLO_CAP} is outside"),
        (struct.pack("<I", 8) + b"AERS\x01\x04\x00\x00", "length 8 is outside"),
        (struct.pack("<I", 32) + b"EVIL" + bytes(28), "bad magic"),
        (struct.pack("<I", 32) + b"AERS\x09" + bytes(27), "protocol version 9"),
        (struct.pack("<I", 32 + 3) + encode_json(HELLO, {})[:32] + b"{x:", "not JSON"),
        (struct.pack("<I", 32 + 2) + encode_json(HELLO, {})[:32] + b"[]", "JSON object"),
    ],
    ids=["oversize-hello", "short", "bad-magic", "bad-version", "not-json", "not-object"],
)
def test_bad_first_frame_is_refused_with_its_reason(
    tcp_node: NodeProcess, first: bytes, reason: str
) -> None:
    sock, reader = connect(tcp_node)
    sock.sendall(first)
    assert reason in refusal(sock, reader)["error"]


@pytest.mark.security
def test_bad_hello_fields_are_refused_with_every_problem(tcp_node: NodeProcess) -> None:
    sock, reader = connect(tcp_node)
    say(sock, hello(block_size=10**9))
    answer = refusal(sock, reader)
    assert "hello.block_size must be an integer in [1, 8192]" in answer["problems"][0]


@pytest.mark.security
def test_a_block_before_hello_is_refused(tcp_node: NodeProcess) -> None:
    sock, reader = connect(tcp_node)
    say(sock, encode_block(BLOCK, 0, 0, np.zeros((1, 64), np.float32)))
    assert "the first message must be HELLO" in refusal(sock, reader)["error"]


@pytest.mark.security
@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (struct.pack("<I", MAX_MESSAGE + 1), f"length {MAX_MESSAGE + 1} is outside"),
        (struct.pack("<I", 32) + b"AERS\x01\x01\x01\x00" + bytes(24), "reserved flags"),
        (encode_block(BLOCK, 0, 0, np.zeros((3, 64), np.float32)), "expected BLOCK of 1"),
        (encode_block(BLOCK, 0, 0, np.zeros((1, 64), np.float32))[:-1], "payload is 255"),
        (hello(), "expected BLOCK"),
    ],
    ids=["oversize", "flags", "channels", "short-payload", "second-hello"],
)
def test_malformed_frame_after_hello_closes_only_that_connection(
    tcp_node: NodeProcess, garbage: bytes, reason: str
) -> None:
    good = RemoteProcessor(tcp_node.url, TOKEN, [], latency_blocks=0, deadline_ms=5000)
    good.prepare(48_000, 64, 1)
    out = np.zeros((1, 64), np.float32)
    try:
        sock, reader = connect(tcp_node)
        say(sock, hello())
        assert parse_frame(reader.read(MAX_MESSAGE) or b"").type == HELLO
        if garbage[:4] == struct.pack("<I", MAX_MESSAGE + 1) or garbage[4:8] == b"AERS":
            sock.sendall(garbage)  # a hand-made length and header
        else:
            say(sock, garbage)
        assert reason in refusal(sock, reader)["error"]
        for k in range(5):  # the other connection never noticed
            block = np.full((1, 64), k + 1, np.float32)
            good.process(block, out, k * 64, ())
            np.testing.assert_array_equal(out, block)
        assert good.late_blocks == 0
    finally:
        good.close()


@pytest.mark.security
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n",
        b"POST /?token=" + TOKEN.encode() + b" HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["browser-get", "post-with-token"],
)
def test_http_at_a_tcp_node_is_refused(tcp_node: NodeProcess, request_bytes: bytes) -> None:
    """Attack: a web page posting to the node's port (all a browser can do with raw TCP)."""
    sock, _ = connect(tcp_node)
    sock.sendall(request_bytes)
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 403 Forbidden")
    assert b"browsers and HTTP clients are refused" in answer


# -- limits of an in-process node ------------------------------------------------------


@pytest.fixture
def inproc_tcp_node(registry: Registry) -> Iterator[tuple[NodeServer, int]]:
    server = NodeServer(TOKEN, registry=registry, transport="tcp")
    with serving(server) as port:
        yield server, port


@pytest.mark.security
def test_a_silent_client_is_dropped_at_the_hello_limit(
    inproc_tcp_node: tuple[NodeServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aers_host.remote._server.HELLO_TIMEOUT", 0.2)
    server, port = inproc_tcp_node
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(struct.pack("<I", 40) + b"AERS")  # a HELLO started, never finished
    answer = refusal(sock, FrameReader(sock))
    assert "did not arrive in time" in answer["error"]
    assert server.stats.malformed == 1


def greeted(port: int) -> tuple[socket.socket, FrameReader, dict[str, Any]]:
    """A connection that sent its HELLO, its reader, and the node's answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    tune(sock)
    say(sock, hello())
    reader = FrameReader(sock)
    frame = parse_frame(reader.read(MAX_MESSAGE) or b"")
    return sock, reader, {"type": frame.type, **frame.json()}


@pytest.mark.security
def test_clients_over_the_limit_are_refused_after_their_hello(
    inproc_tcp_node: tuple[NodeServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aers_host.remote._server.MAX_CONNECTIONS", 1)
    server, port = inproc_tcp_node
    first, _, answer = greeted(port)
    try:
        assert answer["type"] == HELLO
        second, reader, answer = greeted(port)
        assert answer == {"type": 3, "status": 503, "error": "this node serves at most 1 "
                          "connections at once; try again later"}  # fmt: skip
        with pytest.raises(EOFError):
            reader.read(MAX_MESSAGE)
        second.close()
    finally:
        first.close()
    end = time.monotonic() + 10  # the first one's slot is free once its thread ends
    while time.monotonic() < end:
        third, _, answer = greeted(port)
        third.close()
        if answer["type"] == HELLO:
            break
        time.sleep(0.05)
    assert answer["type"] == HELLO
    assert server.stats.refused >= 1


@pytest.mark.security
def test_idle_sockets_before_their_hello_lock_out_nobody(
    inproc_tcp_node: tuple[NodeServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More silent connections than the cap: each newcomer closes the oldest silent one,
    so a client that sends its HELLO at once is served, and served clients keep going."""
    monkeypatch.setattr("aers_host.remote._tcp_server.MAX_UNAUTHENTICATED", 3)
    monkeypatch.setattr("aers_host.remote._server.MAX_CONNECTIONS", 2)
    server, port = inproc_tcp_node
    served, served_reader, answer = greeted(port)
    assert answer["type"] == HELLO
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(6)]
    try:
        client, reader, answer = greeted(port)  # 6 silent ones before it, cap 3
        assert answer["type"] == HELLO
        for sock in idle[:4]:  # the oldest four made room, each told why
            refused = refusal(sock, FrameReader(sock))
            assert refused["status"] == 503 and "waiting for their HELLO" in refused["error"]
        block = encode_block(BLOCK, 0, 0, np.ones((1, 64), np.float32))
        for sock, sock_reader in ((served, served_reader), (client, reader)):
            say(sock, block)
            assert parse_frame(sock_reader.read(MAX_MESSAGE) or b"").type == RESULT
        assert server.stats.malformed == 0  # making room is a refusal, not a bad frame
    finally:
        for sock in (served, client, *idle):
            sock.close()


def test_stop_closes_idle_connections(inproc_tcp_node: tuple[NodeServer, int]) -> None:
    server, port = inproc_tcp_node
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    tune(sock)
    say(sock, hello())
    reader = FrameReader(sock)
    assert parse_frame(reader.read(MAX_MESSAGE) or b"").type == HELLO
    server.stop()  # the fixture then checks the serving thread ended
    with pytest.raises((EOFError, ConnectionError)):
        reader.read(MAX_MESSAGE)
    sock.close()


def test_a_burst_of_the_largest_blocks_neither_side_stalls(
    inproc_tcp_node: tuple[NodeServer, int],
) -> None:
    """Offline, the first ``latency_blocks`` blocks go out at once: 16 × 2 MiB here, more
    than the socket buffers hold, while the node sends their results back. The link takes
    results between sends, so neither side waits on the other's full buffer (before, both
    sat in ``sendall`` until the 10 s send timeout dropped the connection)."""
    _, port = inproc_tcp_node
    latency, frames, channels = 16, 8192, 64
    proc = RemoteProcessor(f"tcp://127.0.0.1:{port}", TOKEN, [], latency_blocks=latency)
    proc.set_timing(OFFLINE)
    proc.prepare(48_000, frames, channels)
    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((channels, frames)).astype(np.float32) for _ in range(20)]
    out = np.zeros((channels, frames), np.float32)
    try:
        for k, block in enumerate(blocks):
            proc.process(block, out, k * frames, ())
            if k >= latency:
                np.testing.assert_array_equal(out, blocks[k - latency])
        assert proc.late_blocks == 0 and proc.remote_stats()["reconnects"] == 0
    finally:
        proc.close()


# -- refusals by the client ------------------------------------------------------------


class FakeTcpNode:
    """A loopback TCP server that answers every HELLO with what ``answer`` returns (raw
    bytes) and, with ``block_reply``, the first BLOCK after it with those bytes; then keeps
    the connection open (silent) until closed. Each connection has its own thread."""

    def __init__(self, answer: Callable[[], bytes], block_reply: bytes | None = None) -> None:
        self.answer = answer
        self.block_reply = block_reply
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, EOFError):
            reader = FrameReader(conn)
            reader.read(MAX_MESSAGE)
            conn.sendall(self.answer())
            if self.block_reply is not None:
                reader.read(MAX_MESSAGE)
                conn.sendall(self.block_reply)
            self._closed.wait(30)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self._sock.close()
        self._thread.join(10)


def _prepare(answer: Callable[[], bytes]) -> None:
    fake = FakeTcpNode(answer)
    proc = RemoteProcessor(f"tcp://127.0.0.1:{fake.port}", TOKEN, [], label="far",
                           connect_timeout_s=5, reconnect_max_ms=10)  # fmt: skip
    try:
        proc.prepare(48_000, 256, 2)
    finally:
        proc.close()
        fake.close()


def _framed(message: bytes) -> bytes:
    return struct.pack("<I", len(message)) + message


@pytest.mark.security
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda: _framed(encode_json(HELLO, {"latency_samples": 10**13, "channels_out": 2})),
         "node 'far': latency_samples in the node's HELLO = 10000000000000 is out of range"),
        (lambda: _framed(encode_json(HELLO, {"latency_samples": 0, "channels_out": 10**9})),
         "node 'far': channels_out in the node's HELLO = 1000000000 is out of range"),
        (lambda: struct.pack("<I", 2**31) + b"AERS", "message length 2147483648 is outside"),
        (lambda: _framed(b"EVIL" + bytes(28)), "bad magic"),
    ],
    ids=["latency", "channels", "oversize", "bad-magic"],
)  # fmt: skip
def test_a_hostile_tcp_node_is_refused_by_the_client(
    answer: Callable[[], bytes], message: str
) -> None:
    with pytest.raises(GraphError, match="remote node 'far'") as info:
        _prepare(answer)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_tcp_url_at_a_websocket_node_says_what_to_check(node: NodeProcess) -> None:
    proc = RemoteProcessor(f"tcp://127.0.0.1:{node.port}", TOKEN, [], label="far",
                           connect_timeout_s=0.5)  # fmt: skip
    with pytest.raises(GraphError, match=r"no answer to HELLO within 0.5 s \(is it a node "
                       r"started with --transport tcp\?"):  # fmt: skip
        proc.prepare(48_000, 256, 2)


@pytest.mark.security
def test_an_http_answer_is_not_taken_for_a_node() -> None:
    with pytest.raises(GraphError, match=r"answered in HTTP: it serves WebSocket, use ws://"):
        _prepare(lambda: b"HTTP/1.1 400 Bad Request\r\n\r\n")


def test_results_that_arrive_in_one_receive_are_all_placed() -> None:
    """Two RESULTs behind the HELLO reply in one segment: none waits for more traffic."""
    results = [encode_block(RESULT, seq, seq * 64, np.full((1, 64), seq + 1.0, np.float32))
               for seq in (0, 1)]  # fmt: skip
    reply = encode_json(HELLO, {"latency_samples": 0, "channels_out": 1})
    fake = FakeTcpNode(lambda: b"".join(_framed(m) for m in (reply, *results)))
    rings = Rings.allocate(4, 1, 1, 64)
    rings.in_seq[:2] = (0, 1)  # as if blocks 0 and 1 had been sent
    link = TcpLink(f"tcp://127.0.0.1:{fake.port}", TOKEN, STREAM, rings, poll=30.0)
    link.start()
    try:
        end = time.monotonic() + 10  # the poll (30 s) never rescues a stuck message
        while rings.res_seq[1] != 1 and time.monotonic() < end:
            link.arrived.wait(0.1)
        assert list(rings.res_seq[:2]) == [0, 1]
        assert rings.res_audio[1, 0, 0] == 2.0
    finally:
        link.close()
        fake.close()


# -- the CLI and the config ------------------------------------------------------------


def test_cli_refuses_an_unknown_transport(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("node", "serve", "--port", "0", "--token", TOKEN, "--transport", "udp")
    assert result.code == 2 and "udp" in result.err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tcp://127.0.0.1", "names no host and port"),
        ("tcp://127.0.0.1:8766/path?token=x", "only tcp://HOST:PORT"),
        ("tcp://127.0.0.1:99999", "out of range"),
    ],
)
def test_validate_names_a_bad_tcp_url(
    tmp_path: Path,
    run_cli,
    node_token: str,
    url: str,
    problem: str,  # type: ignore[no-untyped-def]
) -> None:
    config = tmp_path / "g.yaml"
    config.write_text(
        "version: 1\nduration: 1\nnodes:\n  s: {type: sine}\n"
        f"  r: {{type: remote, params: {{url: '{url}', token_env: AERS_NODE_TOKEN}}}}\n"
        "  o: {type: output}\nconnections:\n  - {from: s, to: r}\n  - {from: r, to: o}\n"
    )
    result = run_cli("validate", config)
    said = result.out + result.err
    assert result.code == 1 and "nodes.r.params.url" in said and problem in said
