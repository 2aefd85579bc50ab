"""The event loop choice (docs/remote.md, Benchmark): uvloop when installed, the wire unchanged.

A link and a node on different loops must still talk: a user's client may lack uvloop
(Windows) while the node has it, or the reverse.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest
from graphs import Registry

from aers_host.remote import NodeServer, RemoteProcessor, _link, _server
from aers_host.remote._loop import loop_factory

TOKEN = "loop-test-token"
GAIN_DB = -6.0


def test_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert loop_factory() is asyncio.new_event_loop


def test_uses_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed here")
    assert loop_factory() is uvloop.new_event_loop


def _asyncio() -> Callable[[], asyncio.AbstractEventLoop]:
    return asyncio.new_event_loop


@pytest.mark.parametrize("asyncio_side", [_link, _server], ids=["client-asyncio", "node-asyncio"])
def test_a_link_and_a_node_on_different_loops_round_trip_a_block(
    registry: Registry, asyncio_side: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncio_side, "loop_factory", _asyncio)
    chain = [{"type": "gain", "params": {"gain_db": GAIN_DB, "smoothing_ms": 0}}]
    server = NodeServer(TOKEN, registry=registry, chain=chain)
    bound: list[int] = []
    ready = threading.Event()

    def on_ready(host: str, port: int) -> None:
        bound.append(port)
        ready.set()

    thread = threading.Thread(target=server.serve_forever, args=("127.0.0.1", 0, on_ready))
    thread.start()
    try:
        assert ready.wait(30)
        proc = RemoteProcessor(f"ws://127.0.0.1:{bound[0]}", TOKEN, [], deadline_ms=5000,
                               latency_blocks=0)  # fmt: skip
        proc.prepare(48_000, 64, 2)
        inp = np.random.default_rng(3).standard_normal((2, 64)).astype(np.float32)
        out = np.zeros_like(inp)
        try:
            proc.process(inp, out, 0, ())
        finally:
            proc.close()
        assert proc.late_blocks == 0
        np.testing.assert_allclose(out, inp * 10 ** (GAIN_DB / 20), rtol=1e-6)
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
