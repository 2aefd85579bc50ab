"""``aers node serve``: a processing node that runs a chain of processors for remote graphs.

Protocol per connection (see ``_protocol``):

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
    >>> server = NodeServer(token="secret-token")          # doctest: +SKIP
    >>> server.serve_forever("127.0.0.1", 8765)             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import http
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from .._nodetype import NodeType
from ._chain import Chain, ChainError
from ._loop import loop_factory
from ._protocol import (
    BLOCK,
    ERROR,
    HEADER_SIZE,
    HELLO,
    MAX_CHANNELS,
    MAX_FRAMES,
    MAX_MESSAGE,
    RESULT,
    STATE,
    ProtocolError,
    encode_header,
    encode_json,
    parse_frame,
)

#: Seconds a client has to complete the WebSocket handshake (request headers included).
HANDSHAKE_TIMEOUT: Final = 10.0
#: Seconds a client has to send its HELLO after the handshake.
HELLO_TIMEOUT: Final = 10.0
#: Seconds between keepalive pings, and to answer one: a half-open connection (peer gone
#: without a FIN) is closed after at most twice this.
PING_INTERVAL: Final = 20.0
#: Shortest token the node accepts (a guessable token is no protection).
MIN_TOKEN_LENGTH: Final = 8


@dataclass(slots=True)
class NodeStats:
    """Counters the CLI prints when the node stops."""

    connections: int = 0
    refused: int = 0
    malformed: int = 0
    blocks: int = 0


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
        registry: node types chains may use (the default registry when None).
        chain: a fixed chain; clients may then send an empty chain or exactly this one.
        delay_ms: testing aid — wait this long before each RESULT, to simulate a slow node.

    Raises:
        ValueError: the token is shorter than :data:`MIN_TOKEN_LENGTH`.
    """

    def __init__(
        self,
        token: str,
        *,
        registry: Mapping[str, NodeType] | None = None,
        chain: list[Any] | None = None,
        delay_ms: float = 0.0,
    ) -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the node token must be at least {MIN_TOKEN_LENGTH} characters")
        if registry is None:
            from ..plugins import default_registry

            registry = default_registry()
        self._token = token.encode()
        self._registry = registry
        self._chain = chain
        self._delay = max(0.0, delay_ms) / 1000.0
        self.stats = NodeStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        #: The signal that stopped :meth:`serve_forever`, if one did.
        self.interrupted_by: int | None = None

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        if "Origin" in request.headers or "Sec-Fetch-Site" in request.headers:
            # Only AERS graphs talk to a node; a browser handshake is a page trying to
            # (cross-site WebSocket hijacking with a token it learnt from a URL).
            self.stats.refused += 1
            return connection.respond(
                http.HTTPStatus.FORBIDDEN, "browser handshakes are refused by AERS nodes\n"
            )
        if hmac.compare_digest(token_from_request(request).encode(), self._token):
            return None
        self.stats.refused += 1
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid or missing node token\n")

    async def run(
        self, host: str, port: int, ready: Callable[[str, int], None] | None = None
    ) -> None:
        """Serve until :meth:`stop` (or cancelled); ``ready(host, port)`` is called once listening.

        Raises:
            OSError: the address cannot be bound.
        """
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()  # before binding: a stop() while binding still counts
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
        self.stats.connections += 1
        chain: Chain | None = None
        try:
            chain = await self._hello(ws)
            if chain is not None:
                await self._serve_blocks(ws, chain)
        except ProtocolError as err:
            self.stats.malformed += 1
            await ws.close(CloseCode.PROTOCOL_ERROR, str(err)[:120])
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            if chain is not None:
                chain.close()

    async def _hello(self, ws: ServerConnection) -> Chain | None:
        frame = parse_frame(await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT))
        if frame.type != HELLO:
            raise ProtocolError("the first message must be HELLO")
        hello = frame.json()
        try:
            sample_rate, block, channels = (
                _int_field(hello, "sample_rate", 8000, 384_000),
                _int_field(hello, "block_size", 1, MAX_FRAMES),
                _int_field(hello, "channels", 1, MAX_CHANNELS),
            )
            chain_spec = self._chosen_chain(hello.get("chain", []))
            chain = Chain.build(chain_spec, self._registry, sample_rate, block, channels)
            chain.warm()
        except ChainError as err:
            await ws.send(encode_json(ERROR, {"error": "invalid chain", "problems": err.problems}))
            await ws.close(CloseCode.POLICY_VIOLATION, "invalid chain")
            return None
        await ws.send(
            encode_json(
                HELLO,
                {"latency_samples": chain.latency_samples, "channels_out": chain.channels_out},
            )
        )
        return chain

    def _chosen_chain(self, requested: Any) -> Any:
        if self._chain is None:
            return requested
        if requested not in ([], None, self._chain):
            raise ChainError(["this node runs a fixed chain (--chain); send an empty chain"])
        return self._chain

    async def _serve_blocks(self, ws: ServerConnection, chain: Chain) -> None:
        block, channels = chain.block_size, chain.channels_in
        inp = np.zeros((channels, block), np.float32)  # writable copy of the received block
        out = bytearray(HEADER_SIZE + chain.channels_out * block * 4)
        samples = np.frombuffer(out, dtype="<f4", offset=HEADER_SIZE)
        async for message in ws:
            frame = parse_frame(message)
            if frame.type == STATE:
                await ws.send(_state_message(chain, frame.json()))
                continue
            if frame.type != BLOCK or frame.channels != channels or frame.frames > block:
                raise ProtocolError(
                    f"expected BLOCK of {channels} channels × ≤{block} frames, got type "
                    f"{frame.type} {frame.channels}×{frame.frames}"
                )
            view = inp[:, : frame.frames]
            view[...] = frame.audio()
            result = chain.process(view, frame.start)
            size = result.size
            samples[:size].reshape(result.shape)[...] = result
            encode_header(out, RESULT, frame.seq, frame.start, frame.frames, chain.channels_out)
            if self._delay:
                await asyncio.sleep(self._delay)
            self.stats.blocks += 1
            await ws.send(memoryview(out)[: HEADER_SIZE + size * 4])


def _state_message(chain: Chain, request: Mapping[str, Any]) -> bytes:
    """[node-thread] Answer a STATE request: the chain's state, or the result of restoring it."""
    try:
        if "set" in request:
            chain.set_state(request["set"])
            return encode_json(STATE, {"ok": True})
        return encode_json(STATE, {"stages": chain.get_state()})
    except ChainError as err:
        return encode_json(STATE, {"error": "; ".join(err.problems)})
    except ValueError as err:  # over MAX_STATE_BYTES, or not JSON data
        return encode_json(STATE, {"error": f"the chain's state cannot be sent: {err}"})


def _int_field(hello: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = hello.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ChainError([f"hello.{key} must be an integer in [{low}, {high}], got {value!r}"])
    return value
