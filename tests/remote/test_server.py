"""The node in-process: fixed chains, token rules, and `aers node serve` refusing to start."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry
from signal_masks import blocked_signals

from aers_host.errors import GraphError
from aers_host.remote import NodeServer, RemoteProcessor

from .conftest import NodeProcess, serving

TOKEN = "in-process-token"
FIXED = [{"type": "gain", "params": {"gain_db": -12, "smoothing_ms": 0}}]


@pytest.fixture
def fixed_node(registry: Registry) -> Iterator[str]:
    with serving(NodeServer(TOKEN, registry=registry, chain=FIXED)) as port:
        yield f"ws://127.0.0.1:{port}"


def test_fixed_chain_serves_clients_that_send_none(fixed_node: str) -> None:
    proc = RemoteProcessor(fixed_node, TOKEN, [], latency_blocks=0, deadline_ms=2000)
    proc.prepare(48_000, 64, 1)
    out = np.zeros((1, 64), np.float32)
    try:
        proc.process(np.ones((1, 64), np.float32), out, 0, ())
        assert np.allclose(out, 10 ** (-12 / 20))
    finally:
        proc.close()


def test_fixed_chain_refuses_another_chain(fixed_node: str) -> None:
    proc = RemoteProcessor(fixed_node, TOKEN, [{"type": "gain"}], deadline_ms=2000)
    with pytest.raises(GraphError, match=r"fixed chain \(--chain\)"):
        proc.prepare(48_000, 64, 1)


def test_channel_count_mismatch_is_explained(fixed_node: str) -> None:
    proc = RemoteProcessor(fixed_node, TOKEN, [], channels_out=2)
    with pytest.raises(GraphError, match="outputs 1 channels, the graph expects 2"):
        proc.prepare(48_000, 64, 1)


def test_short_token_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        NodeServer("short", registry=registry)


def test_cli_refuses_a_short_token(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("node", "serve", "--port", "0", "--token", "abc")
    assert result.code == 1 and "at least 8 characters" in result.err


def test_cli_refuses_a_bad_chain_file(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    chain = tmp_path / "chain.yaml"
    chain.write_text("chain:\n  - {type: sine}\n  - {type: gain, params: {gain_db: 99}}\n")
    result = run_cli("node", "serve", "--port", "0", "--token", TOKEN, "--chain", chain)
    assert result.code == 1
    assert "is a source, not a processor" in result.err and "gain_db" in result.err
    assert "Traceback" not in result.err


def test_stop_after_the_server_has_ended_is_quiet(registry: Registry) -> None:
    server = NodeServer(TOKEN, registry=registry, chain=FIXED)
    ready = threading.Event()
    thread = threading.Thread(
        target=server.serve_forever, args=("127.0.0.1", 0, lambda _h, _p: ready.set())
    )
    thread.start()
    assert ready.wait(30)
    server.stop()
    thread.join(10)
    assert not thread.is_alive()
    server.stop()  # its loop is closed now: a second stop has nothing to do


def test_cli_node_stops_on_ctrl_c_delivered_to_any_thread(own_any_node: NodeProcess) -> None:
    own_node = own_any_node
    # The kernel may hand a process-wide SIGINT to any thread that does not block it, such
    # as numpy's BLAS pool or asyncio's resolver thread. Send it to such a thread directly:
    # the idle node must still wake up and stop, not sit in its event loop.
    assert own_node.proc is not None
    pid = own_node.proc.pid
    others = [
        tid
        for tid in (int(t) for t in os.listdir(f"/proc/{pid}/task"))
        if tid != pid
        and signal.SIGINT not in blocked_signals(Path(f"/proc/{pid}/task/{tid}/status"))
    ]
    assert others, "the node has no other thread that takes SIGINT"
    assert ctypes.CDLL(None, use_errno=True).tgkill(pid, others[0], signal.SIGINT) == 0
    assert own_node.proc.wait(10) == 130
    assert "node stopped" in own_node.stop()


def test_cli_names_an_unset_token_variable(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("AERS_NO_SUCH_TOKEN", raising=False)
    result = run_cli("node", "serve", "--port", "0", "--token-env", "AERS_NO_SUCH_TOKEN")
    assert result.code == 1 and "AERS_NO_SUCH_TOKEN" in result.err and "not set" in result.err


@pytest.mark.security
@pytest.mark.parametrize("transport", ["websocket", "tcp"])
def test_a_full_node_refuses_one_more_client_and_says_why(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.setattr("aers_host.remote._server.MAX_CONNECTIONS", 1)
    server = NodeServer(TOKEN, registry=registry, transport=transport)
    with serving(server) as port:
        url = f"{'ws' if transport == 'websocket' else 'tcp'}://127.0.0.1:{port}"
        first = RemoteProcessor(url, TOKEN, [], latency_blocks=0, deadline_ms=5000)
        first.prepare(48_000, 64, 1)
        try:
            second = RemoteProcessor(url, TOKEN, [], label="far", reconnect_max_ms=10)
            with pytest.raises(GraphError, match=r"remote node 'far': cannot reach the node "
                               r"at .*this node serves at most 1 connections at once; try "
                               r"again later"):  # fmt: skip
                second.prepare(48_000, 64, 1)
            out = np.zeros((1, 64), np.float32)  # the client already served is unaffected
            first.process(np.ones((1, 64), np.float32), out, 0, ())
            assert np.array_equal(out, np.ones((1, 64), np.float32))
        finally:
            first.close()
        assert server.stats.refused >= 1
