"""``aers node serve``: a processing node that runs a chain of processors for remote graphs.

The node listens with one transport: WebSocket (below, the default) or TCP
(``transport="tcp"``: ``_tcp_server``, same messages behind a length prefix). What each
message gets as an answer is decided in ``_session`` for both.

Protocol per WebSocket connection (see ``_protocol``):

1. The WebSocket handshake must carry the node's token, as ``Authorization: Bearer T``
   or ``?token=T`` in the URL; it is compared in constant time (``hmac.compare_digest``).
   A wrong or missing token is refused with HTTP 401 before any WebSocket traffic; a
   browser's handshake (``Origin`` or ``Sec-Fetch-Site`` present) with 403, token or
   not. The handshake must complete within :data:`HANDSHAKE_TIMEOUT`; keepalive pings
   (:data:`PING_INTERVAL`) end half-open connections.
2. The first message is a HELLO from the client: ``{sample_rate, block_size, channels,
   chain}``. The node validates the chain against its own registry (built-ins and
   installed plugins) — or uses its fixed ``--chain`` — prepares it and answers HELLO
   ``{latency_samples, channels_out}``, or ERROR ``{error, problems}`` and closes.
   At most :data:`MAX_CONNECTIONS` clients are served at once; one more is closed with
   code 1013 (try again later) and the reason, before its HELLO is read.
3. Then each BLOCK is processed through the chain and answered by a RESULT with the same
   ``seq`` and ``start``. A malformed or unexpected frame closes that connection (close
   code 1002 with the reason); other connections are not affected.
4. A STATE message between blocks asks for the chain's state (``{}``: answered by STATE
   ``{"stages": [...]}``) or restores it (``{"set": [...]}``: answered ``{"ok": true}``);
   a refused state is answered ``{"error": "..."}``. Messages are handled in order, so a
   state asked for after block *n* is the state after block *n* (sessions).

Compression is off (permessage-deflate triples the round trip and barely shrinks float
audio) and every message is capped at :data:`MAX_MESSAGE` bytes.

Example:
    >>> server = NodeServer("secret-token", registry=default_registry())  # doctest: +SKIP
    >>> server.serve_forever("127.0.0.1", 8765)             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import http
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from .._nodetype import NodeType
from ._loop import loop_factory
from ._protocol import HELLO, MAX_MESSAGE, ProtocolError, parse_frame
from ._session import NodeSession

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

    from ._tcp_server import TcpListener

#: The transports a node can listen on (``--transport``).
TRANSPORTS: Final = ("websocket", "tcp")

#: Seconds a client has to complete the WebSocket handshake (request headers included).
HANDSHAKE_TIMEOUT: Final = 10.0
#: Seconds a client has to send its HELLO after the handshake.
HELLO_TIMEOUT: Final = 10.0
#: Seconds between keepalive pings, and to answer one: a half-open connection (peer gone
#: without a FIN) is closed after at most twice this.
PING_INTERVAL: Final = 20.0
#: Shortest token the node accepts (a guessable token is no protection).
MIN_TOKEN_LENGTH: Final = 8
#: Clients a node serves at once, on either transport, counted once their token was
#: accepted (each holds its chain; on TCP also a thread). One more is refused, told why.
MAX_CONNECTIONS: Final = 64


def crowded_message() -> str:
    """What a client past :data:`MAX_CONNECTIONS` is told (both transports)."""
    return f"this node serves at most {MAX_CONNECTIONS} connections at once; try again later"


@dataclass(slots=True)
class NodeStats:
    """Counters the CLI prints when the node stops (TCP clients add from their threads)."""

    connections: int = 0
    refused: int = 0
    malformed: int = 0
    blocks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, connections: int = 0, refused: int = 0, malformed: int = 0,
            blocks: int = 0) -> None:  # fmt: skip
        """[any-thread] Add to the counters."""
        with self._lock:
            self.connections += connections
            self.refused += refused
            self.malformed += malformed
            self.blocks += blocks


def token_from_request(request: Request) -> str:
    """The token a handshake carries (``Authorization: Bearer`` wins over ``?token=``)."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    values = parse_qs(urlsplit(request.path).query).get("token", [])
    return values[0] if values else ""


class NodeServer:
    """A remote processing node; see the module docstring for the protocol.

    Args:
        token: the shared secret clients must present.
        registry: node types chains may use (``aers node serve``: the default registry).
        chain: a fixed chain; clients may then send an empty chain or exactly this one.
        delay_ms: testing aid — wait this long before each RESULT, to simulate a slow node.
        transport: ``"websocket"`` (``ws://``, the default) or ``"tcp"`` (``tcp://``,
            length-prefixed frames on a plain socket, ``_tcp_server``).

    Raises:
        ValueError: the token is shorter than :data:`MIN_TOKEN_LENGTH`, or the transport
            is not one of :data:`TRANSPORTS`.
    """

    def __init__(
        self,
        token: str,
        *,
        registry: Mapping[str, NodeType],
        chain: list[Any] | None = None,
        delay_ms: float = 0.0,
        transport: str = "websocket",
    ) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the node token must be at least {MIN_TOKEN_LENGTH} characters")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport {transport!r} is not one of {', '.join(TRANSPORTS)}")
        self._token = token.encode()
        self._registry = registry
        self._chain = chain
        #: Testing aid: seconds every answer is held back.
        self.delay_s = max(0.0, delay_ms) / 1000.0
        #: ``"websocket"`` or ``"tcp"``.
        self.transport = transport
        self.stats = NodeStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        #: The signal that stopped :meth:`serve_forever`, if one did.
        self.interrupted_by: int | None = None
        #: WebSocket clients served now (on the event loop; TCP counts in its listener).
        self._served = 0

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        if "Origin" in request.headers or "Sec-Fetch-Site" in request.headers:
            # Only AERS graphs talk to a node; a browser handshake is a page trying to
            # (cross-site WebSocket hijacking with a token it learnt from a URL).
            self.stats.add(refused=1)
            return connection.respond(
                http.HTTPStatus.FORBIDDEN, "browser handshakes are refused by AERS nodes\n"
            )
        if self.token_matches(token_from_request(request)):
            return None
        self.stats.add(refused=1)
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid or missing node token\n")

    def token_matches(self, token: object) -> bool:
        """[any-thread] True when ``token`` is this node's (compared in constant time)."""
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self._token)

    async def run(
        self, host: str, port: int, ready: Callable[[str, int], None] | None = None
    ) -> None:
        """Serve until :meth:`stop` (or cancelled); ``ready(host, port)`` is called once listening.

        Raises:
            OSError: the address cannot be bound.
        """
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()  # before binding: a stop() while binding still counts
        if self.transport == "tcp":
            await self._run_tcp(host, port, ready)
            return
        from websockets.asyncio.server import serve

        async with serve(
            self._handle,
            host,
            port,
            compression=None,
            max_size=MAX_MESSAGE,
            process_request=self._check_token,
            open_timeout=HANDSHAKE_TIMEOUT,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_INTERVAL,
        ) as server:
            bound = next(iter(server.sockets)).getsockname()
            if ready is not None:
                ready(str(bound[0]), int(bound[1]))
            await self._stopping.wait()

    async def _run_tcp(
        self, host: str, port: int, ready: Callable[[str, int], None] | None
    ) -> None:
        """Accept on the loop, serve each client on its own thread (``_tcp_server``)."""
        from ._tcp_server import TcpListener, bind

        assert self._loop is not None and self._stopping is not None
        sock = bind(host, port)
        listener = TcpListener(self, sock)
        accepting = asyncio.ensure_future(self._accept(sock, listener))
        try:
            bound = sock.getsockname()
            if ready is not None:
                ready(str(bound[0]), int(bound[1]))
            await self._stopping.wait()
        finally:
            accepting.cancel()
            await asyncio.gather(accepting, return_exceptions=True)
            sock.close()
            await asyncio.to_thread(listener.close)

    async def _accept(self, sock: socket.socket, listener: TcpListener) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:  # out of descriptors, say: the node stays up for the others
                await asyncio.sleep(0.1)
                continue
            listener.accepted(conn)

    def stop(self) -> None:
        """[any-thread] Make :meth:`run` return (closing every connection)."""
        loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None:
            return
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:  # the loop closed between our look and the call: already stopped
            if not loop.is_closed():
                raise

    def serve_forever(
        self, host: str, port: int, ready: Callable[[str, int], None] | None = None
    ) -> None:
        """Blocking :meth:`run` until :meth:`stop`, or on the main thread SIGINT or SIGTERM.

        On the main thread the two signals reach the loop through its wakeup fd, so an idle
        node stops at once whichever thread the kernel delivered them to (see
        :mod:`aers_host._threads`); connections are closed, then KeyboardInterrupt is raised
        as for Ctrl-C.

        Raises:
            KeyboardInterrupt: stopped by SIGINT or SIGTERM.
            OSError: the address cannot be bound.
        """
        self.interrupted_by = None
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(self._run_until_signalled(host, port, ready))
        if self.interrupted_by is not None:
            raise KeyboardInterrupt

    async def _run_until_signalled(
        self, host: str, port: int, ready: Callable[[str, int], None] | None
    ) -> None:
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self._on_signal, signum)
        await self.run(host, port, ready)

    def _on_signal(self, signum: int) -> None:
        self.interrupted_by = signum
        self.stop()

    async def _handle(self, ws: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.frames import CloseCode

        self.stats.add(connections=1)
        if self._served >= MAX_CONNECTIONS:
            self.stats.add(refused=1)
            await ws.close(CloseCode.TRY_AGAIN_LATER, crowded_message())
            return
        self._served += 1
        session = self.session()
        try:
            frame = parse_frame(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT))
            if frame.type != HELLO:
                raise ProtocolError("the first message must be HELLO")
            await ws.send(session.hello(frame.json()))
            if session.chain is None:
                await ws.close(CloseCode.POLICY_VIOLATION, "invalid chain")
                return
            async for message in ws:
                reply = session.answer(parse_frame(message))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                self.stats.add(blocks=1)
                await ws.send(reply)
        except ProtocolError as err:
            self.stats.add(malformed=1)
            await ws.close(CloseCode.PROTOCOL_ERROR, str(err)[:120])
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            self._served -= 1
            session.close()

    def session(self) -> NodeSession:
        """[node-thread] A fresh session for one client (this node's registry and chain)."""
        return NodeSession(self._registry, self._chain)
