"""The TCP link's waiting side: an audio thread that must wait for a result sends its block
and receives the answer itself, with no hop through the link thread (a thread wake-up
costs tens of µs on a VM, and a GIL hand-off), and a connection that breaks under it ends
its wait at once and is counted and re-established by the link thread. The node, for its
part, polls for the next block only for a client that sends back to back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from graphs import Registry

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
from aers_host.remote._protocol import RESULT, Frame
from aers_host.remote._tcp import FrameReader
from aers_host.remote._tcp_link import TcpLink

from .conftest import TOKEN, serving
from .test_tcp_transport import FakeTcpNode, _framed, greeted, say


@pytest.fixture
def tcp_port(registry: Registry) -> Iterator[int]:
    with serving(NodeServer(TOKEN, registry=registry, transport="tcp")) as port:
        yield port


def test_a_waiting_audio_thread_receives_its_own_results(tcp_port: int) -> None:
    proc = RemoteProcessor(f"tcp://127.0.0.1:{tcp_port}", TOKEN, [], latency_blocks=0,
                           deadline_ms=20_000)  # fmt: skip
    proc.prepare(48_000, 64, 2)
    link = proc._link
    assert isinstance(link, TcpLink)
    placed_by: list[str] = []
    on_frame = link._on_frame

    def recording(frame: Frame) -> None:
        placed_by.append(threading.current_thread().name)
        on_frame(frame)

    link._on_frame = recording  # type: ignore[method-assign]
    link._poll = 30.0  # the link thread's own look at the socket never comes in time
    rng = np.random.default_rng(3)
    out = np.zeros((2, 64), np.float32)
    try:
        for k in range(3):  # the link thread may still be in its last short poll
            proc.process(rng.standard_normal((2, 64)).astype(np.float32), out, k * 64, ())
        placed_by.clear()
        for k in range(3, 23):
            block = rng.standard_normal((2, 64)).astype(np.float32)
            proc.process(block, out, k * 64, ())
            np.testing.assert_array_equal(out, block)  # latency 0: its own result
        assert placed_by == [threading.current_thread().name] * 20
        assert proc.late_blocks == 0
    finally:
        proc.close()


@pytest.mark.security
@pytest.mark.parametrize(
    ("reply", "error"),
    [(b"\x20\x00\x00\x00EVIL" + bytes(28), "bad magic"),
     (b"\x00\x00\x00\x80", "message length 2147483648 is outside")],
    ids=["bad-magic", "oversize"],
)  # fmt: skip
def test_a_malformed_result_ends_the_wait_and_the_connection(reply: bytes, error: str) -> None:
    hello = encode_json(HELLO, {"latency_samples": 0, "channels_out": 1})
    fake = FakeTcpNode(lambda: _framed(hello), block_reply=reply)
    proc = RemoteProcessor(f"tcp://127.0.0.1:{fake.port}", TOKEN, [], latency_blocks=0,
                           deadline_ms=20_000, reconnect_max_ms=10)  # fmt: skip
    try:
        proc.prepare(48_000, 64, 1)
        link = proc._link
        assert link is not None
        out = np.ones((1, 64), np.float32)
        started = time.monotonic()
        proc.process(np.ones((1, 64), np.float32), out, 0, ())
        waited = time.monotonic() - started
        # The fallback (silence) came when the frame did, not at the 20 s deadline.
        assert waited < 10.0 and proc.late_blocks == 1 and not out.any()
        end = time.monotonic() + 10
        while (link.malformed == 0 or fake.connections < 2) and time.monotonic() < end:
            time.sleep(0.01)
        assert link.malformed == 1 and error in link.last_error
        assert fake.connections == 2  # the link thread connected again
    finally:
        proc.close()
        fake.close()


def test_the_node_polls_only_for_a_client_that_sends_back_to_back(
    tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real-time client (a block per period) costs the node no polling; one that sends
    its next block right after each result is polled for it."""
    polls: list[float] = []
    take_by = FrameReader.take_by

    def counted(reader: FrameReader, limit: int, until: float) -> memoryview | None:
        polls.append(until)
        return take_by(reader, limit, until)

    monkeypatch.setattr(FrameReader, "take_by", counted)
    sock, reader, answer = greeted(tcp_port)
    assert answer["type"] == HELLO
    block = encode_block(BLOCK, 0, 0, np.ones((1, 64), np.float32))
    try:
        for _ in range(5):  # paced: 5 ms between a result and the next block
            time.sleep(0.005)
            say(sock, block)
            assert parse_frame(reader.read(MAX_MESSAGE) or b"").type == RESULT
        assert polls == []
        for _ in range(50):  # back to back
            say(sock, block)
            assert parse_frame(reader.read(MAX_MESSAGE) or b"").type == RESULT
        assert polls
    finally:
        sock.close()
