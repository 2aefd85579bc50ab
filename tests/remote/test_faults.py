"""Faults with a real node: malformed frames, a killed and restarted node, a stalled node."""

from __future__ import annotations

import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from aers_host.dsp import Gain
from aers_host.remote import BLOCK, HELLO, RemoteProcessor, encode_block, encode_json

from .conftest import TOKEN, NodeProcess

BLOCK_SIZE = 256
GAIN = [{"type": "gain", "params": {"gain_db": -6, "smoothing_ms": 0}}]


def processed(k: int) -> np.ndarray:
    """What the node's chain makes of block k (the same built-in gain, run locally)."""
    gain = Gain(gain_db=-6, smoothing_ms=0)
    gain.prepare(48_000, BLOCK_SIZE, 2)
    out = np.zeros((2, BLOCK_SIZE), np.float32)
    gain.process(block_of(k), out, k * BLOCK_SIZE, ())
    return out


def block_of(k: int) -> np.ndarray:
    """A block whose samples say which block it is (so misalignment is visible)."""
    base = np.arange(BLOCK_SIZE, dtype=np.float32) / BLOCK_SIZE
    return np.stack([base + k, -(base + k)]).astype(np.float32) / 1000


class Driver:
    """Feeds numbered blocks through a RemoteProcessor like the engine would."""

    def __init__(self, proc: RemoteProcessor) -> None:
        self.proc = proc
        self.k = 0
        self.out = np.zeros((2, BLOCK_SIZE), np.float32)

    def step(self) -> tuple[int, np.ndarray]:
        k = self.k
        self.proc.process(block_of(k), self.out, k * BLOCK_SIZE, ())
        self.k += 1
        return k, self.out.copy()

    def aligned(self, k: int, out: np.ndarray) -> bool:
        """Output of block k is the processed input of block k - 1, to the sample."""
        return k >= 1 and np.array_equal(out, processed(k - 1))


def remote(url: str, token: str = TOKEN, **kw: object) -> RemoteProcessor:
    proc = RemoteProcessor(url, token, GAIN, latency_blocks=1, reconnect_max_ms=200, **kw)  # type: ignore[arg-type]
    proc.prepare(48_000, BLOCK_SIZE, 2)
    return proc


def test_killed_node_gives_fallback_then_reconnects_aligned(own_any_node: NodeProcess) -> None:
    own_node = own_any_node
    proc = remote(own_node.url, deadline_ms=2000, fallback="bypass")
    drive = Driver(proc)
    try:
        for _ in range(20):
            k, out = drive.step()
            assert k == 0 or drive.aligned(k, out)
        own_node.kill()
        deadline = time.monotonic() + 10
        while proc.remote_stats()["connected"] and time.monotonic() < deadline:
            drive.step()
            time.sleep(0.005)
        drive.step()  # its result may have arrived before the node died: that one is used
        late_before = proc.late_blocks
        for _ in range(10):  # node away: bypass fallback = the dry input, delayed one block
            k, out = drive.step()
            assert np.array_equal(out, block_of(k - 1))
        assert proc.late_blocks >= late_before + 10
        assert proc.dropped_blocks >= 10
        own_node.start()  # same port
        deadline = time.monotonic() + 15
        aligned_after = 0
        while aligned_after < 20 and time.monotonic() < deadline:
            k, out = drive.step()
            if proc.remote_stats()["connected"] and drive.aligned(k, out):
                aligned_after += 1
            time.sleep(0.002)
        assert aligned_after == 20
        stats = proc.remote_stats()
        assert stats["reconnects"] == 1
        # once reconnected, every block is the right one: no fallback, no misalignment
        late = proc.late_blocks
        for _ in range(20):
            k, out = drive.step()
            assert drive.aligned(k, out)
        assert proc.late_blocks == late
    finally:
        proc.close()


def test_stalled_node_late_blocks_are_counted_and_silent(slow_node: NodeProcess) -> None:
    proc = remote(slow_node.url, deadline_ms=5)
    drive = Driver(proc)
    try:
        outs = [drive.step() for _ in range(12)]
        assert proc.late_blocks >= 8
        assert proc.xruns == proc.late_blocks
        assert all(not out.any() for k, out in outs[1:] if not drive.aligned(k, out))
        time.sleep(0.6)  # the late results arrive after their deadline and are not used
        assert proc.remote_stats()["late_arrivals"] >= 1
        assert proc.remote_stats()["rtt_us"]["p50"] >= 40_000
    finally:
        proc.close()


def _hello(ws: object) -> None:
    ws.send(encode_json(HELLO, {"sample_rate": 48000, "block_size": 64, "channels": 1,  # type: ignore[attr-defined]
                                "chain": []}))  # fmt: skip
    assert ws.recv(timeout=10)[:4] == b"AERS"  # type: ignore[attr-defined]


@pytest.mark.security
@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00" * 10,
        "a text frame",
        encode_block(BLOCK, 0, 0, np.zeros((3, 64), np.float32)),  # wrong channel count
        encode_block(BLOCK, 0, 0, np.zeros((1, 64), np.float32))[:-1],  # short payload
        encode_json(HELLO, {"again": True}),
    ],
)
def test_malformed_frame_closes_only_that_connection(
    node: NodeProcess, garbage: bytes | str
) -> None:
    good = remote(node.url, deadline_ms=2000)
    drive = Driver(good)
    try:
        for _ in range(3):
            drive.step()
        with connect(node.url, additional_headers={"Authorization": f"Bearer {TOKEN}"},
                     compression=None) as bad:  # fmt: skip
            _hello(bad)
            bad.send(garbage)
            with pytest.raises(ConnectionClosed) as closed:
                bad.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002
        for _ in range(5):  # the other connection never noticed
            k, out = drive.step()
            assert drive.aligned(k, out)
        assert good.late_blocks == 0
    finally:
        good.close()


@pytest.mark.security
def test_block_before_hello_and_query_token(node: NodeProcess) -> None:
    with connect(f"{node.url}/?token={TOKEN}", compression=None) as ws:
        ws.send(encode_block(BLOCK, 0, 0, np.zeros((1, 64), np.float32)))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert "first message must be HELLO" in closed.value.rcvd.reason  # type: ignore[union-attr]


@pytest.mark.security
@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "fetch-site"],
)
def test_a_browser_handshake_is_refused_even_with_the_token(
    node: NodeProcess, headers: dict[str, str]
) -> None:
    """Attack: a web page that learnt a node URL with ``?token=`` drives it from a browser."""
    from websockets.exceptions import InvalidStatus

    with (
        pytest.raises(InvalidStatus) as refused,
        connect(f"{node.url}/?token={TOKEN}", additional_headers=headers, compression=None),
    ):
        pass
    assert refused.value.response.status_code == 403
    assert b"browser handshakes are refused" in refused.value.response.body
    with connect(f"{node.url}/?token={TOKEN}", compression=None) as ws:  # a graph still may
        ws.send(encode_json(HELLO, {"sample_rate": 48_000, "block_size": 64, "channels": 1,
                                    "chain": []}))  # fmt: skip
        assert ws.recv(timeout=10)
