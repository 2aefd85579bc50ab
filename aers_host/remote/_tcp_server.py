"""The node's TCP listener (``aers node serve --transport tcp``): a thread per client.

Protocol per connection (framing in ``_tcp``, messages as on the WebSocket transport):

1. Within :data:`~aers_host.remote._server.HELLO_TIMEOUT` of connecting, the client sends
   HELLO ``{token, sample_rate, block_size, channels, chain}`` (at most the JSON cap).
   ``token`` is compared in constant time before any other field is looked at; a wrong or
   missing one is answered ERROR ``{error, status: 401}`` and the connection closed — the
   TCP transport is no way around the node's token. An HTTP request (a browser, curl)
   gets ``403 Forbidden`` and is closed: only AERS graphs talk to a node.
2. The node answers HELLO ``{latency_samples, channels_out}`` or ERROR ``{error,
   problems}`` (then closes), exactly as the WebSocket node does (``_session``).
3. Each BLOCK is answered by its RESULT, each STATE by a STATE. A malformed frame is
   answered ERROR ``{error}`` and only that connection is closed.

Each connection runs on its own thread with a blocking socket: no event-loop hop per block.
At most :data:`MAX_CONNECTIONS` clients are served at once; more are refused with an ERROR.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from .._threads import helper_thread
from ._protocol import (
    ERROR,
    HEADER_SIZE,
    HELLO,
    MAX_JSON_BYTES,
    MAX_MESSAGE,
    ProtocolError,
    encode_json,
    parse_frame,
)
from ._tcp import FrameReader, HttpRequestRefused, send_message, tune

if TYPE_CHECKING:
    from ._server import NodeServer
    from ._session import NodeSession

#: Clients a TCP node serves at once (each holds a thread and its chain).
MAX_CONNECTIONS: Final = 64
#: What an HTTP client is told before the connection closes.
HTTP_REFUSAL: Final = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
    b"this is an AERS node's TCP transport; browsers and HTTP clients are refused\n"
)


class TcpListener:
    """Accepts clients on a bound socket and serves each on its own thread.

    Args:
        server: the node (token, counters, sessions, the testing delay).
        sock: a listening socket.
    """

    def __init__(self, server: NodeServer, sock: socket.socket) -> None:
        self._server = server
        self._sock = sock
        self._lock = threading.Lock()
        self._open: dict[socket.socket, threading.Thread] = {}

    def accepted(self, conn: socket.socket) -> None:
        """[node-thread] Serve a freshly accepted client on a new thread (or refuse it)."""
        conn.setblocking(True)
        tune(conn)
        with self._lock:
            crowded = len(self._open) >= MAX_CONNECTIONS
            if not crowded:
                thread = helper_thread(lambda: self._serve(conn), "aers-node-tcp")
                self._open[conn] = thread
        if crowded:
            self._server.stats.add(refused=1)
            _answer_and_close(conn, {"error": f"this node serves at most {MAX_CONNECTIONS}"
                                     " connections at once; try again later"})  # fmt: skip
            return
        thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """[node-thread] Close every connection and wait for their threads to end."""
        with self._lock:
            open_now = dict(self._open)
        for conn in open_now:
            with contextlib.suppress(OSError):  # wakes a thread blocked in recv
                conn.shutdown(socket.SHUT_RDWR)
        end = time.monotonic() + timeout
        for thread in open_now.values():
            thread.join(max(0.0, end - time.monotonic()))

    def _serve(self, conn: socket.socket) -> None:
        """[connection-thread] One client, from HELLO to close."""
        server = self._server
        server.stats.add(connections=1)
        session: NodeSession | None = None
        prefix = bytearray(4)
        reader = FrameReader(conn)
        blocks = 0
        try:
            session = self._greet(conn, reader, prefix)
            if session is None:
                return
            delay = server.delay_s
            while True:
                message = reader.read(MAX_MESSAGE, idle_ok=True)
                if message is None:
                    continue  # a paused client; keepalive ends a vanished one
                reply = session.answer(parse_frame(message))
                if delay:
                    time.sleep(delay)
                send_message(conn, prefix, reply)
                blocks += 1
        except HttpRequestRefused:
            server.stats.add(refused=1)
            _send_quietly(conn, HTTP_REFUSAL)
        except ProtocolError as err:
            server.stats.add(malformed=1)
            _send_quietly(conn, _framed(encode_json(ERROR, {"error": str(err)[:400]})))
        except (EOFError, OSError):
            pass
        finally:
            server.stats.add(blocks=blocks)
            if session is not None:
                session.close()
            with self._lock:
                self._open.pop(conn, None)
            conn.close()

    def _greet(
        self, conn: socket.socket, reader: FrameReader, prefix: bytearray
    ) -> NodeSession | None:
        """[connection-thread] Check the HELLO (token first) and answer it.

        Returns:
            The session when the chain was accepted; None when the client was refused
            (and told why).

        Raises:
            ProtocolError: no HELLO in time, or not a well-formed one.
        """
        from ._server import HELLO_TIMEOUT

        message = reader.read(HEADER_SIZE + MAX_JSON_BYTES, deadline=time.monotonic()
                              + HELLO_TIMEOUT)  # fmt: skip
        assert message is not None  # only an idle_ok read returns None
        frame = parse_frame(message)
        if frame.type != HELLO:
            raise ProtocolError("the first message must be HELLO")
        hello: dict[str, Any] = frame.json()
        token = hello.pop("token", None)
        if not self._server.token_matches(token):
            self._server.stats.add(refused=1)
            send_message(conn, prefix, encode_json(ERROR, {
                "error": "invalid or missing node token", "status": 401}))  # fmt: skip
            return None
        session = self._server.session()
        try:
            send_message(conn, prefix, session.hello(hello))
        except BaseException:
            session.close()
            raise
        if session.chain is None:
            return None
        return session


def bind(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (``port`` 0 picks a free one).

    Raises:
        OSError: the address cannot be bound.
    """
    sock = socket.create_server((host, port), backlog=MAX_CONNECTIONS)
    sock.setblocking(False)
    return sock


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(4, "little") + message


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    """Best effort: tell a peer why it is closed; it may be gone already."""
    with contextlib.suppress(OSError):
        conn.sendall(data)


def _answer_and_close(conn: socket.socket, body: dict[str, Any]) -> None:
    _send_quietly(conn, _framed(encode_json(ERROR, body)))
    conn.close()
