"""The TCP transport's framing: the AERS messages of ``_protocol``, each behind its length.

On a ``tcp://`` connection every message is a 4-byte little-endian length followed by
exactly that many bytes, which are one AERS message (32-byte header, payload) checked by
:func:`~aers_host.remote._protocol.parse_frame` as on the WebSocket transport. The length
is checked against the caller's limit *before* a byte of the message is read or a buffer is
sized by it; an HTTP request (all a web page can send to a raw port) is recognised by its
first bytes and refused.

Sockets are blocking with a timeout of :data:`FRAME_TIMEOUT` (a frame that stops halfway
closes the connection), ``TCP_NODELAY`` (a block is sent at once, not held back by
Nagle's algorithm) and TCP keepalive (a peer gone without a FIN is noticed within
:data:`HALF_OPEN_LIMIT` seconds, as the WebSocket transport's pings do).

Example:
    >>> tcp_address("tcp://127.0.0.1:8766")
    ('127.0.0.1', 8766)
    >>> a, b = socket.socketpair()
    >>> send_message(a, bytearray(4), b"AERS" + bytes(28))
    >>> bytes(FrameReader(b).read(64)[:4])
    b'AERS'
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from typing import Final
from urllib.parse import urlsplit

from ._protocol import HEADER_SIZE, ProtocolError

#: The length prefix of each message.
LENGTH: Final = struct.Struct("<I")
#: Seconds the rest of a frame may take once its first byte arrived.
FRAME_TIMEOUT: Final = 10.0
#: Seconds a thread that expects a message at once polls for it before sleeping in the
#: kernel (:meth:`FrameReader.take_by`): a link waiting for its result, a node whose client
#: sends blocks back to back. Measured on the 2-core VM (``docs/remote.md``, *Benchmark*):
#: across cores, 50–250 µs all cut a ``latency_blocks=0`` round trip from ~120 to ~65 µs;
#: on one core polling changes nothing as long as it yields.
SPIN_S: Final = 100e-6
#: Seconds after which a silent, unacknowledged peer is given up (keepalive and
#: ``TCP_USER_TIMEOUT``); the WebSocket transport's ping interval, twice.
HALF_OPEN_LIMIT: Final = 40
#: ``recv`` flag: return at once when nothing has arrived (None where the system lacks it).
_DONTWAIT: Final[int | None] = getattr(socket, "MSG_DONTWAIT", None)
#: How the first four bytes of HTTP look: a request (a browser or curl at a TCP node, or a
#: ``ws://`` URL pointed at one) or a response (a ``tcp://`` URL pointed at a WebSocket node).
HTTP_STARTS: Final = frozenset(
    {b"GET ", b"POST", b"PUT ", b"HEAD", b"OPTI", b"DELE", b"PATC", b"CONN", b"TRAC", b"PRI ",
     b"HTTP"}
)  # fmt: skip


class HttpRequestRefused(ProtocolError):
    """The peer spoke HTTP on the TCP transport (see :data:`HTTP_STARTS`)."""


class LateMessage(ProtocolError):
    """A message with a deadline (the HELLO, its answer) did not arrive by then."""


def tune(sock: socket.socket) -> None:
    """Set ``TCP_NODELAY``, keepalive and the frame timeout on a connected socket.

    The timeout is the kernel's (``SO_RCVTIMEO``/``SO_SNDTIMEO``) on a blocking socket, so
    a receive is one system call; Python's own socket timeout would add a ``poll`` to each.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", HALF_OPEN_LIMIT // 2),
        ("TCP_KEEPINTVL", HALF_OPEN_LIMIT // 8),
        ("TCP_KEEPCNT", 4),
        ("TCP_USER_TIMEOUT", HALF_OPEN_LIMIT * 1000),
    ):
        option = getattr(socket, name, None)
        if option is not None:  # Linux has them all; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
    sock.settimeout(None)
    timeval = struct.pack("@ll", int(FRAME_TIMEOUT), 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def send_message(sock: socket.socket, prefix: bytearray, message: bytes | memoryview) -> None:
    """Send ``message`` behind its length in one system call (partial sends are finished).

    Args:
        sock: a connected, blocking socket.
        prefix: a reused 4-byte buffer for the length (no allocation per message).
        message: one AERS message.

    Raises:
        OSError: the connection failed, or took no byte for :data:`FRAME_TIMEOUT`.
    """
    LENGTH.pack_into(prefix, 0, len(message))
    sent = sock.sendmsg((prefix, message))
    if sent < LENGTH.size:
        sock.sendall(memoryview(prefix)[sent:])
        sent = LENGTH.size
    if sent - LENGTH.size < len(message):
        sock.sendall(memoryview(message)[sent - LENGTH.size :])


def tcp_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of a ``tcp://host:port`` URL.

    Raises:
        ValueError: another scheme, no host or port, or a path, query or user part (a
            TCP node has none; the token comes from ``token_env``).
    """
    parts = urlsplit(url)
    if parts.scheme != "tcp":
        raise ValueError(f"{url!r} is not a tcp:// URL")
    port = parts.port  # raises ValueError for a port out of range
    if not parts.hostname or port is None:
        raise ValueError(f"{url!r} names no host and port (tcp://HOST:PORT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{url!r}: a tcp:// URL is only tcp://HOST:PORT")
    return parts.hostname, port


class FrameReader:
    """Reads length-prefixed messages from one socket into one reused buffer.

    Each ``recv_into`` takes whatever has arrived (usually a whole message, length
    included, in one system call); bytes of the next message wait in the buffer. The
    buffer grows to the largest message accepted so far (never past the limit a
    :meth:`read` or :meth:`take` names), so a steady stream of blocks allocates nothing.
    One thread at a time may use a reader (the TCP link hands it over under a lock).
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = bytearray(64 * 1024)
        self._start = 0  # first byte not yet handed out
        self._end = 0  # one past the last byte received
        self._partial_since = 0.0  # time.monotonic() since :meth:`take` got no more bytes

    def read(
        self, limit: int, *, deadline: float | None = None, idle_ok: bool = False
    ) -> memoryview | None:
        """[link-thread | node-thread] The next message (a view valid until the next read).

        Args:
            limit: the largest message accepted here, in bytes.
            deadline: ``time.monotonic()`` by which the whole message must have arrived
                (the HELLO's hang limit); without it each read may wait :data:`FRAME_TIMEOUT`.
            idle_ok: return None when no byte arrived within :data:`FRAME_TIMEOUT` (a
                client may pause between blocks); a message stopped halfway still fails.

        Raises:
            EOFError: the peer closed the connection between messages.
            HttpRequestRefused: the peer spoke HTTP.
            LateMessage: the ``deadline`` passed.
            ProtocolError: a length under the header size or over ``limit``, the
                connection closed inside a message, or a message not finished in time.
        """
        if not self._have(LENGTH.size, deadline, idle_ok):
            return None
        length = self._length(limit)
        self._have(LENGTH.size + length, deadline, False)
        return self._hand_out(length)

    def take(self, limit: int) -> memoryview | None:
        """[any-thread holding the reader] The next message if it is all here; never waits.

        Receives what has arrived (``MSG_DONTWAIT``: the socket stays blocking for a
        thread that sends on it meanwhile) and returns None when the next message is not
        complete yet; its first part stays in the buffer for the next call.

        Raises:
            EOFError, HttpRequestRefused, ProtocolError: as :meth:`read`; ProtocolError
                also when a message stays unfinished for :data:`FRAME_TIMEOUT`.
        """
        while True:
            held = self._end - self._start
            need = LENGTH.size + self._length(limit) if held >= LENGTH.size else LENGTH.size
            if held >= need:
                return self._hand_out(need - LENGTH.size)
            self._make_room(need)
            try:
                n = _recv_now(self._sock, memoryview(self._buf)[self._end :])
            except BlockingIOError:
                if held:
                    self._check_stalled()
                return None
            self._received(n)

    def take_by(self, limit: int, until: float) -> memoryview | None:
        """[any-thread holding the reader] :meth:`take`, polled until ``until`` passes.

        Yields the CPU between polls, so a peer woken on this core runs at once; one
        :meth:`take` when ``until`` (``time.perf_counter()``) has passed already. Waking
        a thread blocked in the kernel costs tens of µs on a virtual machine (an idle
        vCPU halts), more than a small block's round trip, so a short poll pays off
        where the answer is due within it (see :data:`SPIN_S`).

        Raises:
            EOFError, HttpRequestRefused, ProtocolError: as :meth:`take`.
        """
        while (message := self.take(limit)) is None and time.perf_counter() < until:
            os.sched_yield()
        return message

    def _length(self, limit: int) -> int:
        """The length of the next message, checked (its prefix is in the buffer).

        Raises:
            HttpRequestRefused: the peer spoke HTTP.
            ProtocolError: a length under the header size or over ``limit``.
        """
        start = self._start
        if bytes(self._buf[start : start + LENGTH.size]) in HTTP_STARTS:
            raise HttpRequestRefused("HTTP on the AERS TCP transport")
        (length,) = LENGTH.unpack_from(self._buf, start)
        if not HEADER_SIZE <= length <= limit:
            raise ProtocolError(
                f"message length {length} is outside {HEADER_SIZE}…{limit} bytes here"
            )
        return int(length)

    def _hand_out(self, length: int) -> memoryview:
        """The message of ``length`` bytes behind the prefix at :attr:`_start`; skips it."""
        start = self._start + LENGTH.size
        self._start = start + length
        return memoryview(self._buf)[start : start + length]

    def _check_stalled(self) -> None:
        """[take] Fail a message that stays unfinished (a live peer that stopped halfway).

        Raises:
            ProtocolError: no byte of it came for :data:`FRAME_TIMEOUT` or more.
        """
        now = time.monotonic()
        if not self._partial_since:
            self._partial_since = now
        elif now - self._partial_since >= FRAME_TIMEOUT:
            raise ProtocolError(
                f"a message stopped after {self._end - self._start} bytes and timed out"
            )

    def _received(self, n: int) -> None:
        """Account ``n`` bytes just received (0: the peer closed).

        Raises:
            EOFError: closed between messages.
            ProtocolError: closed inside a message.
        """
        if not n:
            if self._end == self._start:
                raise EOFError("the peer closed the connection")
            raise ProtocolError("the connection closed inside a message")
        self._end += n
        self._partial_since = 0.0  # a byte came: a stalled message's clock starts again

    def _make_room(self, size: int) -> None:
        """Make room for ``size`` bytes from :attr:`_start`.

        Moves a partial message to the front, or grows the buffer to ``size`` (a size the
        caller checked against its limit).
        """
        if self._start == self._end:
            self._start = self._end = 0
        elif len(self._buf) - self._start < size:
            kept = self._end - self._start
            self._buf[:kept] = self._buf[self._start : self._end]
            self._start, self._end = 0, kept
        if len(self._buf) < size:  # a new buffer: views handed out earlier keep the old one
            grown = bytearray(size)
            grown[: self._end] = self._buf[: self._end]
            self._buf = grown

    def _have(self, size: int, deadline: float | None, idle_ok: bool) -> bool:
        """Receive until ``size`` bytes from :attr:`_start` are in; False when idle."""
        if self._end - self._start >= size:
            return True
        self._make_room(size)
        sock, view, waited = self._sock, memoryview(self._buf), self._end > self._start
        while self._end - self._start < size:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LateMessage("the message did not arrive in time")
                sock.settimeout(min(remaining, FRAME_TIMEOUT))
            try:
                n = sock.recv_into(view[self._end :])
            except (TimeoutError, BlockingIOError) as err:  # SO_RCVTIMEO: EAGAIN
                if idle_ok and not waited and self._end == self._start:
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    raise LateMessage("the message did not arrive in time") from err
                raise ProtocolError(
                    f"a message stopped after {self._end - self._start} bytes and timed out"
                ) from err
            finally:
                if deadline is not None:
                    sock.settimeout(None)
            self._received(n)
        return True


def _recv_now(sock: socket.socket, view: memoryview) -> int:
    """``recv_into`` that never waits, on a socket left blocking for its other users.

    Raises:
        BlockingIOError: nothing has arrived.
    """
    if _DONTWAIT is not None:
        return sock.recv_into(view, 0, _DONTWAIT)
    if not select.select([sock], [], [], 0)[0]:  # no MSG_DONTWAIT (Windows)
        raise BlockingIOError
    return sock.recv_into(view)
