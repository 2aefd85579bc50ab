"""A peer's HELLO is bounded before the client sizes anything by it.

Attack (hardening review): a node answering HELLO with ``latency_samples: 10**13`` made the
planner allocate a multi-TiB compensation line (internal error, exit 3); a negative value
was accepted silently and shifted the graph's alignment. Here a fake node says what it
likes; the client must refuse it in one line naming the node, the field and the limit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from aers_host._limits import MAX_LATENCY_SECONDS
from aers_host.errors import GraphError
from aers_host.remote import RemoteProcessor
from aers_host.remote._protocol import HELLO, encode_json, parse_frame

RATE, BLOCK = 48_000, 256


class FakeNode:
    """A loopback WebSocket server that answers every HELLO with ``reply``."""

    def __init__(self) -> None:
        self.reply: dict[str, Any] = {}
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self._thread.start()
        self._ready.wait(10)

    async def _answer(self, ws: ServerConnection) -> None:
        parse_frame(await ws.recv())
        await ws.send(encode_json(HELLO, self.reply))
        await ws.wait_closed()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._answer, "127.0.0.1", 0, compression=None) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def close(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


@pytest.fixture(scope="module")
def fake_node() -> Iterator[FakeNode]:
    node = FakeNode()
    yield node
    node.close()


def _prepare(node: FakeNode, reply: dict[str, Any]) -> RemoteProcessor:
    node.reply = reply
    proc = RemoteProcessor(f"ws://127.0.0.1:{node.port}", "t", [], label="far", connect_timeout_s=5)
    proc.prepare(RATE, BLOCK, 2)
    return proc


@pytest.mark.security
@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({"latency_samples": 10**13, "channels_out": 2}, "latency_samples"),
        ({"latency_samples": -1, "channels_out": 2}, "latency_samples"),
        ({"latency_samples": 1.5, "channels_out": 2}, "latency_samples"),
        ({"latency_samples": 0, "channels_out": [2]}, "channels_out"),
        ({"latency_samples": 0, "channels_out": 10**9}, "channels_out"),
    ],
)
def test_hostile_hello_refuses_the_node(
    fake_node: FakeNode, reply: dict[str, Any], field: str
) -> None:
    with pytest.raises(GraphError) as info:
        _prepare(fake_node, reply)
    message = str(info.value)
    assert f"node 'far': {field} in the node's HELLO = " in message
    assert "out of range; the limit is" in message and "\n" not in message


def test_hello_latency_at_the_limit_is_used(fake_node: FakeNode) -> None:
    top = MAX_LATENCY_SECONDS * RATE
    proc = _prepare(fake_node, {"latency_samples": top, "channels_out": 2})
    try:
        assert proc.latency_samples == BLOCK + top  # latency_blocks=1 plus the chain's own
    finally:
        proc.close()
