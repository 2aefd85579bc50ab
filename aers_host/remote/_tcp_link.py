"""The TCP link (``tcp://host:port``): one blocking socket, no event loop.

What each message means, the slots and the counters are shared with the WebSocket link
(``_linkbase``). This module only moves bytes, on two threads that never wait for each
other:

* An audio thread that must wait for a result (``latency_blocks=0``, or a result later
  than a block) does the whole round trip itself: it sends the pending blocks (each
  copied into one reused buffer, then one ``sendmsg`` with its length prefix), then
  receives (``recv_into`` one reused buffer) until its result is in, polling the socket
  for :data:`~aers_host.remote._tcp.SPIN_S` before sleeping in ``select`` up to its
  deadline. Waking another thread costs tens of µs on a virtual machine (an idle vCPU
  halts) and a GIL hand-off; a wait on the socket itself costs neither.
* The link thread does the rest: it connects and reconnects, sends blocks the audio
  thread queued without waiting (every poll interval) and the main thread's STATE
  messages, and receives results nobody waits for. It watches the socket in ``select``,
  except while the audio thread has been receiving (then it looks every poll interval).

Two locks that are only ever *tried* by these threads (never waited for) decide who
sends and who receives; the socket stays blocking (``MSG_DONTWAIT`` per receive), so
neither changes the other's socket mode.

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
    SPIN_S,
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
        #: Held while receiving (the link thread, or an audio thread waiting for a result).
        self._recv_lock = threading.Lock()
        #: The live connection (set and cleared with both locks held).
        self._sock: socket.socket | None = None
        self._reader: FrameReader | None = None
        #: True while audio threads take their results off the socket themselves: the link
        #: thread then looks every poll interval instead of waking on every result.
        self._audio_receives = False
        #: What broke the connection under a waiting audio thread, for the link thread.
        self._broken: BaseException | None = None

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

    def wait_result(self, slot: int, seq: int, epoch: int, until: float) -> None:
        """[audio-thread] Send what is pending, then receive until result ``seq`` is in.

        Waits as :meth:`LinkBase.wait_result` does (until ``until``, or the end of the
        connection of ``epoch``), but on the socket, on this thread. Falls back to waiting
        for the link thread when that thread is receiving right now.
        """
        if not self._recv_lock.acquire(blocking=False):
            super().wait_result(slot, seq, epoch, until)
            return
        try:
            self._receive_until(slot, seq, epoch, until)
        finally:
            self._recv_lock.release()

    def _receive_until(self, slot: int, seq: int, epoch: int, until: float) -> None:
        """[audio-thread, receive lock held] The waiting side of :meth:`wait_result`."""
        sock, reader, rings = self._sock, self._reader, self.rings
        if sock is None or reader is None:
            return
        self._audio_receives = True
        try:
            if self._send_lock.acquire(blocking=False):
                try:
                    self._send_all(sock, reader)
                finally:
                    self._send_lock.release()
            spin_until = min(time.perf_counter() + SPIN_S, until)
            while rings.res_seq[slot] != seq and self.connected and self.epoch == epoch:
                message = reader.take_by(MAX_MESSAGE, spin_until)
                if message is not None:
                    self._on_frame(parse_frame(message))
                    continue
                now = time.perf_counter()
                if now >= until:
                    return
                select.select([sock], [], [], until - now)
        except (ProtocolError, OSError, EOFError) as err:
            # The link thread counts it and reconnects; we stop waiting (fallback now).
            self._broken = err
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._wake()

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
        watch_all, watch_wake = [sock, wake], [wake]
        self._sock, self._reader = sock, reader
        first = True
        try:
            while not self._closing:
                # Messages already in the reader's buffer do not wake select(): the ones
                # that came with the HELLO reply are taken below before the first wait,
                # any an audio thread left behind at the next poll at the latest.
                watched = watch_wake if self._audio_receives else watch_all
                timeout, first = (0.0 if first else self._poll), False
                if wake in select.select(watched, [], [], timeout)[0]:
                    self._drain_wakes()
                # Never wait for a lock: a thread sending its block may be waiting for the
                # node to read, and the node for us to read its results. What is left
                # goes out, or is received, on the next round.
                if not self._recv_lock.acquire(blocking=False):
                    continue  # an audio thread sends and receives for itself right now
                try:
                    broken, self._broken = self._broken, None
                    if broken is not None:  # under an audio thread: it has shut the socket
                        raise broken
                    if self._send_lock.acquire(blocking=False):
                        try:
                            self._send_all(sock, reader)
                        finally:
                            self._send_lock.release()
                    if self._take_all(reader):
                        self._audio_receives = False  # results nobody waited for: watch
                finally:
                    self._recv_lock.release()
        finally:
            with contextlib.suppress(OSError):  # an audio thread waiting on it stops
                sock.shutdown(socket.SHUT_RDWR)
            with self._recv_lock, self._send_lock:
                self._sock = self._reader = None
                self._broken = None
                self._audio_receives = False

    def _send_all(self, sock: socket.socket, reader: FrameReader) -> None:
        """[both locks held] Send every pending block, then the main thread's messages."""
        pending, outbox = self._pending, self._outbox
        while pending:
            self._send_one(sock, pending.popleft())
            if pending:
                # A burst (the first latency_blocks blocks, or after a stall): take the
                # results in between, so neither side's sends wait on full buffers.
                self._take_all(reader)
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

    def _take_all(self, reader: FrameReader) -> int:
        """[receive lock held] Handle every message that has arrived whole; how many."""
        taken = 0
        while (message := reader.take(MAX_MESSAGE)) is not None:
            self._on_frame(parse_frame(message))
            taken += 1
        return taken
