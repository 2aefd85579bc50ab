"""The TCP link (``tcp://host:port``): one thread, one blocking socket, no event loop.

What each message means, the slots and the counters are shared with the WebSocket link
(``_linkbase``). This module only moves bytes: the link thread waits in ``select`` on the
socket and a wake-up socket pair, with a timeout of the poll interval; each round it sends
the pending blocks (each copied into one reused buffer, then one ``sendmsg`` with its
length prefix) and reads what arrived (``recv_into`` one reused buffer). Nothing is
allocated per block and no event loop sits between the audio thread and the socket, which
is where the WebSocket transport spends most of its round trip. An audio thread about to
block on a result sends its one pending block itself when the link thread is not sending
(a non-blocking try of the send lock), saving a thread wake-up per round trip.

The token travels in the HELLO (``token``), which the node checks before anything else;
like ``ws://`` it is sent in clear: off loopback, tunnel it (SSH) or keep to a trusted LAN.

"""

from __future__ import annotations

import collections
import contextlib
import random
import select
import socket
import threading
import time

from ._linkbase import LinkBase, LinkFailed
from ._protocol import (
    HEADER_SIZE,
    HELLO,
    MAX_JSON_BYTES,
    MAX_MESSAGE,
    ProtocolError,
    encode_json,
    parse_frame,
)
from ._tcp import (
    FrameReader,
    HttpRequestRefused,
    LateMessage,
    send_message,
    tcp_address,
    tune,
)


class TcpLink(LinkBase):
    """The TCP connection to one remote node, kept alive on a background thread.

    Arguments as :class:`LinkBase`; ``url`` is ``tcp://host:port`` of a node started with
    ``aers node serve --transport tcp``, and the token is sent in the HELLO.
    """

    def _setup(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._closing = False
        #: Messages of the main thread (STATE requests), sent after the blocks before them.
        self._outbox: collections.deque[bytes] = collections.deque()
        self._send_buf = bytearray(len(self.rings.in_msgs[0]))
        self._prefix = bytearray(4)
        #: Held while sending (the link thread, or a thread that is about to block anyway).
        self._send_lock = threading.Lock()
        self._sock: socket.socket | None = None

    def kick(self) -> None:
        """[any-thread] Make the sender send what is pending now (before blocking on a result).

        A thread that is about to block anyway sends a lone pending block itself when the
        link thread is not sending (one thread wake-up less per round trip); otherwise, or
        for a burst, it wakes the link thread.
        """
        if len(self._pending) == 1 and self._send_lock.acquire(blocking=False):
            try:
                if self._send_pending_now():
                    return
            finally:
                self._send_lock.release()
        self._wake()

    def _wake(self) -> None:
        """[any-thread] Wake the link thread from its wait (a byte on the wake-up pair)."""
        with contextlib.suppress(OSError):  # a full pair is woken already; closed: ending
            self._wake_w.send(b"\0")

    def _send_pending_now(self) -> bool:
        """[any-thread, send lock held] Send the one pending block; False to leave it."""
        sock = self._sock
        if sock is None or len(self._pending) != 1:
            return False
        try:
            self._send_one(sock, self._pending.popleft())
        except OSError:  # the stream may hold half a message now: end this connection
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return True

    def close(self) -> None:
        """[main-thread] Stop the thread and close the connection (waits up to 2 s)."""
        self._closing = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _send_control(self, message: bytes, timeout: float) -> None:
        self._outbox.append(message)
        self._wake()

    # -- link-thread side --------------------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff[0]
        try:
            try:
                address = tcp_address(self.url)
            except ValueError as err:
                self.fatal = f"invalid node URL: {err}"
                return
            while not self._closing:
                try:
                    self._connection(address)
                    delay = self._backoff[0]
                except LinkFailed as err:
                    self.fatal = str(err)
                    return
                except HttpRequestRefused:
                    self.fatal = (
                        f"the node at {self.url} answered in HTTP: it serves WebSocket, "
                        f"use ws://{self.url.removeprefix('tcp://')}"
                    )
                    return
                except ProtocolError as err:
                    self.malformed += 1
                    self.last_error = f"malformed reply: {err}"
                except (OSError, EOFError) as err:
                    self.last_error = str(err) or type(err).__name__
                self.first_result.set()
                if self._nap(delay * (0.75 + random.random() / 2)):  # noqa: S311 (jitter)
                    return
                delay = min(delay * 2.0, self._backoff[1])
        finally:
            self.connected = False
            self.arrived.set()  # an audio thread waiting on this link stops waiting
            self.first_result.set()
            self._wake_r.close()
            self._wake_w.close()

    def _nap(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until :meth:`close`; True when closing."""
        select.select([self._wake_r], [], [], seconds)
        self._drain_wakes()
        return self._closing

    def _drain_wakes(self) -> None:
        try:
            while self._wake_r.recv(64):
                pass
        except BlockingIOError:
            pass

    def _connection(self, address: tuple[str, int]) -> None:
        """One connection: connect, greet, then pump blocks until it fails or we close.

        Raises:
            LinkFailed: the node refused the token or the chain.
            ProtocolError: a malformed message from the node.
            OSError: the connection failed or broke.
            EOFError: the node closed the connection.
        """
        with socket.create_connection(address, timeout=self._open_timeout) as sock:
            tune(sock)
            reader = FrameReader(sock)
            hello = encode_json(HELLO, {**self._hello, "token": self._token})
            send_message(sock, self._prefix, hello)
            try:
                reply = reader.read(
                    HEADER_SIZE + MAX_JSON_BYTES, deadline=time.monotonic() + self._open_timeout
                )
            except LateMessage as err:  # a WebSocket node waits for an HTTP line end
                raise ProtocolError(
                    f"no answer to HELLO within {self._open_timeout:g} s (is it a node "
                    "started with --transport tcp? it prints 'listening on tcp://…')"
                ) from err
            assert reply is not None  # only an idle_ok read returns None
            self._accept_hello(parse_frame(reply))
            try:
                self._pump(sock, reader)
            finally:
                self.connected = False
                self.arrived.set()

    def _pump(self, sock: socket.socket, reader: FrameReader) -> None:
        wake = self._wake_r
        watched = [sock, wake]
        self._sock = sock
        try:
            while not self._closing:
                # One receive may bring several messages (even the HELLO reply and a
                # RESULT); those already in the reader's buffer do not wake select().
                held = reader.holds_message()
                readable, _, _ = select.select(watched, [], [], 0.0 if held else self._poll)
                if wake in readable:
                    self._drain_wakes()
                # Never wait for the send lock: a thread sending its block may be waiting
                # for the node to read, and the node for us to read its results. The
                # blocks left pending go out on the next round.
                if self._send_lock.acquire(blocking=False):
                    try:
                        self._send_all(sock, reader)
                    finally:
                        self._send_lock.release()
                if held or sock in readable:
                    self._receive(reader)
        finally:
            with self._send_lock:
                self._sock = None

    def _send_all(self, sock: socket.socket, reader: FrameReader) -> None:
        """[link-thread, send lock held] Send every pending block, then the main thread's."""
        pending, outbox = self._pending, self._outbox
        while pending:
            self._send_one(sock, pending.popleft())
            if pending and (reader.holds_message() or _readable(sock)):
                # A burst (the first latency_blocks blocks, or after a stall): take the
                # results in between, so neither side's sends wait on full buffers.
                self._receive(reader)
        while outbox:
            send_message(sock, self._prefix, outbox.popleft())

    def _send_one(self, sock: socket.socket, seq: int) -> None:
        """[send lock held] Send slot ``seq`` unless the audio thread rewrote it meanwhile."""
        view = self._pending_message(seq)
        if view is None:
            return
        size = len(view)
        self._send_buf[:size] = view
        if self._still_wanted(seq):
            send_message(sock, self._prefix, memoryview(self._send_buf)[:size])

    def _receive(self, reader: FrameReader) -> None:
        """Handle the next message (held in the reader, or arriving now)."""
        message = reader.read(MAX_MESSAGE)
        assert message is not None  # only an idle_ok read returns None
        self._on_frame(parse_frame(message))


def _readable(sock: socket.socket) -> bool:
    """True when a receive on ``sock`` would not wait."""
    return bool(select.select([sock], [], [], 0)[0])
