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
A client that sends its blocks back to back is polled for the next one briefly after each
reply (:data:`BACK_TO_BACK_S`), one that sends a block per block period is not.
At most :data:`~aers_host.remote._server.MAX_CONNECTIONS` clients are served at once
(counted once their token was accepted); one more is answered ERROR ``{error, status:
503}`` after its HELLO. Connections that have not sent their HELLO yet are capped apart
(:data:`MAX_UNAUTHENTICATED`): past the cap the oldest of them is closed for the
newcomer, so sockets left idle inside their HELLO window can neither lock out a client
that sends its HELLO at once nor take the slots of authenticated ones.
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
from ._tcp import SPIN_S, FrameReader, HttpRequestRefused, send_message, tune

if TYPE_CHECKING:
    from ._server import NodeServer
    from ._session import NodeSession

#: A client whose block came within this many seconds of our last reply sends back to
#: back (offline, or waiting for each result): its connection's thread then polls for the
#: next block for :data:`~aers_host.remote._tcp.SPIN_S` after each reply instead of
#: sleeping in the kernel at once (a wake-up costs tens of µs on a VM).
BACK_TO_BACK_S: Final = 2 * SPIN_S
#: Connections inside their HELLO window at once (each holds a thread while it waits);
#: a newcomer past this closes the oldest of them.
MAX_UNAUTHENTICATED: Final = 16
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
        #: Connections still waiting for their HELLO, oldest first.
        self._unauthenticated: dict[socket.socket, None] = {}
        #: Connections closed to make room for a newer one (not counted as malformed).
        self._evicted: set[socket.socket] = set()
        #: Connections whose token was accepted.
        self._served = 0

    def accepted(self, conn: socket.socket) -> None:
        """[node-thread] Serve a freshly accepted client on a new thread.

        Past :data:`MAX_UNAUTHENTICATED` connections waiting for their HELLO, the oldest
        of them is told why and closed.
        """
        conn.setblocking(True)
        tune(conn)
        thread = helper_thread(lambda: self._serve(conn), "aers-node-tcp")
        with self._lock:
            oldest = None
            if len(self._unauthenticated) >= MAX_UNAUTHENTICATED:
                oldest = next(iter(self._unauthenticated))
                del self._unauthenticated[oldest]
                self._evicted.add(oldest)
            self._unauthenticated[conn] = None
            self._open[conn] = thread
        if oldest is not None:
            self._server.stats.add(refused=1)
            _send_quietly(oldest, _framed(encode_json(ERROR, {"error": (
                f"more than {MAX_UNAUTHENTICATED} connections were waiting for their HELLO;"
                " this one waited longest"), "status": 503})))  # fmt: skip
            with contextlib.suppress(OSError):  # its thread sees the end and cleans up
                oldest.shutdown(socket.SHUT_RDWR)
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
            replied = 0.0  # time.perf_counter() after the last reply
            eager = False  # the client sends back to back: poll for its next block
            while True:
                message = reader.take_by(MAX_MESSAGE, replied + SPIN_S) if eager else None
                if message is None:
                    message = reader.read(MAX_MESSAGE, idle_ok=True)
                    if message is None:
                        continue  # a paused client; keepalive ends a vanished one
                # A real-time client sends a block per block period (≥ 0.6 ms): never
                # eager, it costs no polling. One rendering offline, or waiting for
                # each result, sends the next block right after our reply.
                eager = time.perf_counter() - replied < BACK_TO_BACK_S
                reply = session.answer(parse_frame(message))
                if delay:
                    time.sleep(delay)
                send_message(conn, prefix, reply)
                replied = time.perf_counter()
                blocks += 1
        except HttpRequestRefused:
            server.stats.add(refused=1)
            _send_quietly(conn, HTTP_REFUSAL)
        except ProtocolError as err:
            if conn not in self._evicted:  # an evicted one was told why already
                server.stats.add(malformed=1)
                _send_quietly(conn, _framed(encode_json(ERROR, {"error": str(err)[:400]})))
        except (EOFError, OSError):
            pass
        finally:
            server.stats.add(blocks=blocks)
            with self._lock:
                self._open.pop(conn, None)
                self._unauthenticated.pop(conn, None)
                self._evicted.discard(conn)
                if session is not None:
                    self._served -= 1
            if session is not None:
                session.close()
            conn.close()

    def _greet(
        self, conn: socket.socket, reader: FrameReader, prefix: bytearray
    ) -> NodeSession | None:
        """[connection-thread] Check the HELLO (token first), the connection cap, and answer.

        Returns:
            The session when the chain was accepted (it then counts against the cap);
            None when the client was refused (and told why).

        Raises:
            ProtocolError: no HELLO in time, or not a well-formed one.
        """
        from ._server import HELLO_TIMEOUT, MAX_CONNECTIONS, crowded_message

        message = reader.read(HEADER_SIZE + MAX_JSON_BYTES, deadline=time.monotonic()
                              + HELLO_TIMEOUT)  # fmt: skip
        assert message is not None  # only an idle_ok read returns None
        with self._lock:
            self._unauthenticated.pop(conn, None)
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
        with self._lock:
            crowded = self._served >= MAX_CONNECTIONS
            if not crowded:
                self._served += 1
        if crowded:
            self._server.stats.add(refused=1)
            send_message(conn, prefix, encode_json(ERROR, {"error": crowded_message(),
                                                           "status": 503}))  # fmt: skip
            return None
        session = self._server.session()
        try:
            send_message(conn, prefix, session.hello(hello))
        except BaseException:
            session.close()
            with self._lock:
                self._served -= 1
            raise
        if session.chain is None:
            with self._lock:
                self._served -= 1
            session.close()
            return None
        return session


def bind(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (``port`` 0 picks a free one).

    Raises:
        OSError: the address cannot be bound.
    """
    from ._server import MAX_CONNECTIONS

    sock = socket.create_server((host, port), backlog=MAX_CONNECTIONS)
    sock.setblocking(False)
    return sock


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(4, "little") + message


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    """Best effort: tell a peer why it is closed; it may be gone already."""
    with contextlib.suppress(OSError):
        conn.sendall(data)
