"""The TCP framing's non-blocking receive (``FrameReader.take``), used by whichever thread
holds the link's receive lock: it never waits, never sizes a buffer by an unchecked length,
leaves the socket blocking for the thread sending on it, and still ends a message that
stops halfway."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from aers_host.remote import BLOCK, MAX_MESSAGE, encode_block, parse_frame
from aers_host.remote._protocol import HEADER_SIZE, ProtocolError
from aers_host.remote._tcp import FrameReader, HttpRequestRefused


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def framed(message: bytes) -> bytes:
    return struct.pack("<I", len(message)) + message


MESSAGE = encode_block(BLOCK, 7, 448, np.arange(128, dtype=np.float32).reshape(2, 64))


def test_take_returns_none_until_the_whole_message_is_in(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    reader = FrameReader(b)
    assert reader.take(MAX_MESSAGE) is None  # nothing yet: no wait
    data = framed(MESSAGE)
    a.sendall(data[:3])
    assert reader.take(MAX_MESSAGE) is None  # not even the length
    a.sendall(data[3:100])
    assert reader.take(MAX_MESSAGE) is None  # half a message
    a.sendall(data[100:] + data)  # the rest, and a second message in the same receive
    first = reader.take(MAX_MESSAGE)
    assert first is not None and bytes(first) == MESSAGE
    frame = parse_frame(first)
    assert (frame.seq, frame.start, frame.channels, frame.frames) == (7, 448, 2, 64)
    second = reader.take(MAX_MESSAGE)
    assert second is not None and bytes(second) == MESSAGE
    assert reader.take(MAX_MESSAGE) is None
    assert b.getblocking() and b.gettimeout() is None  # left blocking for a sender


@pytest.mark.security
def test_take_refuses_a_length_over_its_limit_before_the_message_arrives(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(struct.pack("<I", 2**31))  # 2 GiB announced: no buffer may be sized by it
    with pytest.raises(ProtocolError, match="message length 2147483648 is outside"):
        FrameReader(b).take(MAX_MESSAGE)
    a.sendall(struct.pack("<I", HEADER_SIZE - 1))
    with pytest.raises(ProtocolError, match="outside"):
        FrameReader(b).take(MAX_MESSAGE)


@pytest.mark.security
def test_take_refuses_http(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(HttpRequestRefused):
        FrameReader(b).take(MAX_MESSAGE)


def test_take_tells_a_close_between_messages_from_one_inside_a_message(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(framed(MESSAGE))
    a.shutdown(socket.SHUT_WR)
    reader = FrameReader(b)
    assert reader.take(MAX_MESSAGE) is not None
    with pytest.raises(EOFError):
        reader.take(MAX_MESSAGE)
    c, d = socket.socketpair()
    with c, d:
        c.sendall(framed(MESSAGE)[:50])
        c.shutdown(socket.SHUT_WR)
        with pytest.raises(ProtocolError, match="closed inside a message"):
            FrameReader(d).take(MAX_MESSAGE)


@pytest.mark.security
def test_a_message_stopped_halfway_fails_after_the_frame_timeout(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr("aers_host.remote._tcp.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("aers_host.remote._tcp.FRAME_TIMEOUT", 10.0)
    a, b = pair
    reader = FrameReader(b)
    data = framed(MESSAGE)
    a.sendall(data[:40])
    assert reader.take(MAX_MESSAGE) is None  # the clock starts: no byte since
    clock[0] += 9.0
    a.sendall(data[40:60])  # a byte came: the clock starts again
    assert reader.take(MAX_MESSAGE) is None
    clock[0] += 9.0
    assert reader.take(MAX_MESSAGE) is None  # 9 s without a byte: still waiting
    clock[0] += 1.0
    with pytest.raises(ProtocolError, match="stopped after 60 bytes and timed out"):
        reader.take(MAX_MESSAGE)


def test_a_message_finished_by_a_blocking_read_restarts_the_stall_clock(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node polls (take) and then blocks (read) for the same message: a later partial
    message is timed from its own first byte, not from the earlier one's."""
    clock = [100.0]
    monkeypatch.setattr("aers_host.remote._tcp.time.monotonic", lambda: clock[0])
    a, b = pair
    reader = FrameReader(b)
    data = framed(MESSAGE)
    a.sendall(data[:40])
    assert reader.take(MAX_MESSAGE) is None
    a.sendall(data[40:] + data[:40])  # the rest, and the start of the next one
    assert bytes(reader.read(MAX_MESSAGE) or b"") == MESSAGE
    clock[0] += 60.0
    assert reader.take(MAX_MESSAGE) is None  # the next one's clock starts now
    clock[0] += 9.0
    assert reader.take(MAX_MESSAGE) is None


def test_take_by_polls_until_the_message_comes(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    reader = FrameReader(b)
    assert reader.take_by(MAX_MESSAGE, time.perf_counter() - 1.0) is None  # one look only
    later = threading.Timer(0.05, a.sendall, args=(framed(MESSAGE),))
    later.start()
    try:
        message = reader.take_by(MAX_MESSAGE, time.perf_counter() + 30.0)
        assert message is not None and bytes(message) == MESSAGE
    finally:
        later.join()
