"""Block round trip over loopback: the AERS remote-node transports vs raw TCP, in one run.

One 512 × 2 float32 block (4 KiB + the 32-byte AERS header) per round trip, 48 kHz stereo:

* tcp: a blocking client and an echo server process, ``TCP_NODELAY`` on both sides —
  the floor any protocol on loopback can reach;
* tcp transport: the AERS protocol against a real ``aers node serve --transport tcp``
  (empty chain), with the transport's own framing code (``send_message``, ``FrameReader``)
  on a blocking socket. Each block goes through the raw TCP echo, then the node, so both
  see the same machine load;
* tcp processor: ``RemoteProcessor.process`` with ``latency_blocks=0`` over ``tcp://``
  (audio thread → link thread → node → back), and ``latency_blocks=1`` at real-time pace;
* bare websocket: a ``websockets`` echo server, no AERS code on either end — the floor
  of the WebSocket transport itself;
* websocket: the AERS protocol against a real ``aers node serve`` process (empty chain,
  so the node only parses, copies and answers), asyncio ``websockets`` client on the
  remote link's event loop (uvloop when installed), permessage-deflate off;
* processor: ``RemoteProcessor.process`` with ``latency_blocks=0`` — what the audio thread
  pays end to end (hand-off to the link thread, WebSocket round trip, result back);
* paced: ``process`` with ``latency_blocks=1`` called at the real block rate — the audio
  thread's cost when the round trip is hidden behind one block of latency.

Issue 17's target: the remote round trip within 2.5× raw TCP (median) and 2× (p99); the
JSON's ``targets`` records whether the TCP transport met it in this run.

Run: ``.venv/bin/python benchmarks/bench_remote.py [--blocks 5000]``
Writes ``benchmarks/results/remote.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import select
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from _results import write_results
from websockets.asyncio.client import connect

from aers_host.remote import BLOCK, HELLO, MAX_MESSAGE, RemoteProcessor, encode_block, encode_json
from aers_host.remote._loop import loop_factory
from aers_host.remote._tcp import FrameReader, send_message, tune

TOKEN = "bench-token-0123456789"
FRAMES, CHANNELS, SR = 512, 2, 48_000
AERS = str(Path(sys.executable).with_name("aers"))

ECHO = textwrap.dedent(
    """
    import socket, sys
    size = int(sys.argv[1])
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    conn, _ = srv.accept(); conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(size); view = memoryview(buf)
    while True:
        got = 0
        while got < size:
            n = conn.recv_into(view[got:])
            if not n:
                sys.exit(0)
            got += n
        conn.sendall(buf)
    """
)

WS_ECHO = textwrap.dedent(
    """
    import asyncio
    from websockets.asyncio.server import serve
    from aers_host.remote._loop import loop_factory
    async def echo(ws):
        async for message in ws:
            await ws.send(message)
    async def main():
        async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
            print(next(iter(server.sockets)).getsockname()[1], flush=True)
            await asyncio.Future()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())
    """
)


def stats(samples_ns: list[int]) -> dict[str, float]:
    us = np.asarray(samples_ns, np.float64) / 1000.0
    return {
        "median_us": float(np.median(us)),
        "p99_us": float(np.percentile(us, 99)),
        "mean_us": float(us.mean()),
        "min_us": float(us.min()),
        "n": len(us),
    }


@contextlib.contextmanager
def echo_server(script: str, *args: str) -> Iterator[tuple[int, int]]:
    """Run an echo ``script`` in its own process; yields the port it printed and its pid."""
    server = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline()), server.pid
    finally:
        server.kill()
        server.wait()


#: Where the client and the two servers run while the TCP pair is timed: ``free`` (the
#: kernel decides, as for real nodes), ``same`` (all on one CPU) or ``cross`` (client on one
#: CPU, both servers on another). On a VM, waking a thread on an idle vCPU costs tens of µs
#: (the vCPU halts when idle), so a round trip's time depends on where the scheduler left
#: each process; ``free`` can compare a raw echo on the client's CPU with a node on the
#: other one. Pinning both servers alike compares like with like.
PLACEMENTS = ("free", "same", "cross")


def pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of process ``pid`` (threads it starts later inherit it)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task), cpus)


#: The CPUs this benchmark may use (taken before it pins anything).
CPUS = sorted(os.sched_getaffinity(0))


def place(placement: str, servers: list[int]) -> bool:
    """Pin this thread and the ``servers`` for ``placement``; False if it cannot be had."""
    cpus = CPUS
    if placement == "cross" and len(cpus) < 2:
        return False
    mine = {cpus[0]} if placement != "free" else set(cpus)
    theirs = {cpus[1]} if placement == "cross" else mine
    os.sched_setaffinity(0, mine)
    for pid in servers:
        pin(pid, theirs)
    return True


def bench_tcp(
    message: bytes, node_url: str, node_pid: int, blocks: int, warmup: int
) -> dict[str, tuple[list[int], list[int]]]:
    """Raw TCP echo and the AERS TCP transport, block for block in turn, in each placement.

    Returns:
        ``{placement: (raw times, node times)}`` in ns, for each of :data:`PLACEMENTS`
        the machine allows.
    """
    with echo_server(ECHO, str(len(message))) as (port, echo_pid):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(len(message))
        view = memoryview(buf)
        host, node_port = node_url.removeprefix("tcp://").rsplit(":", 1)
        node = socket.create_connection((host, int(node_port)))
        tune(node)
        reader, prefix = FrameReader(node), bytearray(4)
        stream = {"token": TOKEN, "sample_rate": SR, "block_size": FRAMES,
                  "channels": CHANNELS, "chain": []}  # fmt: skip
        send_message(node, prefix, encode_json(HELLO, stream))
        reader.read(MAX_MESSAGE)
        timed: dict[str, tuple[list[int], list[int]]] = {}
        try:
            for placement in PLACEMENTS:
                if not place(placement, [echo_pid, node_pid]):
                    continue
                raw_times: list[int] = []
                aers_times: list[int] = []
                for _ in range(warmup + blocks):
                    t0 = time.perf_counter_ns()
                    raw.sendall(message)
                    got = 0
                    while got < len(buf):
                        got += raw.recv_into(view[got:])
                    t1 = time.perf_counter_ns()
                    send_message(node, prefix, message)
                    reader.read(MAX_MESSAGE)
                    aers_times.append(time.perf_counter_ns() - t1)
                    raw_times.append(t1 - t0)
                timed[placement] = raw_times[warmup:], aers_times[warmup:]
        finally:
            place("free", [echo_pid, node_pid])
            raw.close()
            node.close()
        return timed


def bench_ws(url: str, message: bytes, blocks: int, warmup: int, hello: bool) -> list[int]:
    """WebSocket round trips on the link's event loop (uvloop when installed)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_ws_round_trips(url, message, blocks, warmup, hello))


async def _ws_round_trips(
    url: str, message: bytes, blocks: int, warmup: int, hello: bool
) -> list[int]:
    async with connect(
        url,
        additional_headers={"Authorization": f"Bearer {TOKEN}"},
        compression=None,
        max_size=MAX_MESSAGE,
        ping_interval=None,
    ) as ws:
        if hello:
            stream = {"sample_rate": SR, "block_size": FRAMES, "channels": CHANNELS, "chain": []}
            await ws.send(encode_json(HELLO, stream))
            await ws.recv()
        times = []
        for i in range(warmup + blocks):
            t0 = time.perf_counter_ns()
            await ws.send(message)
            await ws.recv()
            if i >= warmup:
                times.append(time.perf_counter_ns() - t0)
        return times


def bench_processor(url: str, blocks: int, warmup: int) -> list[int]:
    """``process`` with ``latency_blocks=0``: the whole round trip, as the audio thread sees it."""
    proc = RemoteProcessor(url, TOKEN, [], latency_blocks=0, deadline_ms=1000)
    proc.prepare(SR, FRAMES, CHANNELS)
    inp = np.random.default_rng(1).standard_normal((CHANNELS, FRAMES)).astype(np.float32)
    out = np.zeros_like(inp)
    times = []
    try:
        for i in range(warmup + blocks):
            t0 = time.perf_counter_ns()
            proc.process(inp, out, i * FRAMES, ())
            if i >= warmup:
                times.append(time.perf_counter_ns() - t0)
        assert proc.late_blocks == 0 and np.array_equal(out, inp)
    finally:
        proc.close()
    return times


def bench_paced(url: str, blocks: int) -> tuple[list[int], int]:
    """``process`` cost with ``latency_blocks=1`` at real-time pace: the audio thread's bill."""
    proc = RemoteProcessor(url, TOKEN, [], latency_blocks=1)
    proc.prepare(SR, FRAMES, CHANNELS)
    inp = np.random.default_rng(2).standard_normal((CHANNELS, FRAMES)).astype(np.float32)
    out = np.zeros_like(inp)
    period = FRAMES / SR
    times = []
    next_at = time.perf_counter()
    try:
        for i in range(blocks):
            t0 = time.perf_counter_ns()
            proc.process(inp, out, i * FRAMES, ())
            times.append(time.perf_counter_ns() - t0)
            next_at += period
            time.sleep(max(0.0, next_at - time.perf_counter()))
        return times, proc.late_blocks
    finally:
        proc.close()


@contextlib.contextmanager
def node_serving(transport: str) -> Iterator[tuple[str, int]]:
    """A real ``aers node serve --transport TRANSPORT`` process; yields its URL and pid."""
    node = subprocess.Popen(
        [AERS, "node", "serve", "--port", "0", "--token", TOKEN, "--transport", transport],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if select.select([node.stderr], [], [], 0.5)[0]:
                line = node.stderr.readline()
                if line.startswith("listening on "):
                    yield line.split()[-1], node.pid
                    return
        raise RuntimeError("aers node serve did not start")
    finally:
        node.terminate()
        node.wait(timeout=30)


def processor_figures(url: str, args: argparse.Namespace) -> tuple[dict[str, Any], ...]:
    """``process`` at latency 0 (back to back) and latency 1 (real-time pace) against ``url``."""
    unhidden = stats(bench_processor(url, args.blocks, args.warmup))
    paced_times, paced_late = bench_paced(url, args.paced)
    return unhidden, {**stats(paced_times), "late_blocks": paced_late}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--paced", type=int, default=300, help="real-time paced blocks")
    args = parser.parse_args()
    audio = np.random.default_rng(0).standard_normal((CHANNELS, FRAMES)).astype(np.float32)
    message = encode_block(BLOCK, 0, 0, audio)
    load_before = os.getloadavg()
    with node_serving("tcp") as (url, node_pid):
        pairs = bench_tcp(message, url, node_pid, args.blocks, args.warmup)
        tcp_proc, tcp_paced = processor_figures(url, args)
    with echo_server(WS_ECHO) as (port, _):
        bare = stats(bench_ws(f"ws://127.0.0.1:{port}", message, args.blocks, args.warmup, False))
    with node_serving("websocket") as (url, _):
        ws = stats(bench_ws(url, message, args.blocks, args.warmup, hello=True))
        proc, paced = processor_figures(url, args)
    by_placement: dict[str, dict[str, Any]] = {}
    for placement, (raw_times, node_times) in pairs.items():
        raw_stats, node_stats = stats(raw_times), stats(node_times)
        by_placement[placement] = {
            "tcp_nodelay_echo": raw_stats,
            "tcp_transport_aers_node": node_stats,
            "ratio_median": node_stats["median_us"] / raw_stats["median_us"],
            "ratio_p99": node_stats["p99_us"] / raw_stats["p99_us"],
        }
    tcp, aers_tcp = by_placement["free"]["tcp_nodelay_echo"], by_placement["free"][
        "tcp_transport_aers_node"]  # fmt: skip
    tcp_median = by_placement["free"]["ratio_median"]
    tcp_p99 = by_placement["free"]["ratio_p99"]
    targets = {
        f"{placement}: tcp_transport_{stat}_le_{limit}x": row[f"ratio_{stat}"] <= limit
        for placement, row in by_placement.items()
        for stat, limit in (("median", 2.5), ("p99", 2.0))
    }
    result: dict[str, Any] = {
        "block": {"frames": FRAMES, "channels": CHANNELS, "sample_rate": SR,
                  "bytes": len(message)},
        "tcp_nodelay_echo": tcp,
        "tcp_transport_aers_node": aers_tcp,
        "tcp_pair_by_placement": by_placement,
        "remote_processor_tcp_latency0": tcp_proc,
        "remote_processor_tcp_latency1_paced": tcp_paced,
        "websocket_bare_echo": bare,
        "websocket_aers_node": ws,
        "remote_processor_latency0": proc,
        "remote_processor_latency1_paced": paced,
        "ratio_tcp_transport_over_tcp_median": tcp_median,
        "ratio_tcp_transport_over_tcp_p99": tcp_p99,
        "ratio_tcp_processor_over_tcp_median": tcp_proc["median_us"] / tcp["median_us"],
        "ratio_ws_over_tcp_median": ws["median_us"] / tcp["median_us"],
        "ratio_ws_over_tcp_p99": ws["p99_us"] / tcp["p99_us"],
        "ratio_bare_ws_over_tcp_median": bare["median_us"] / tcp["median_us"],
        "ratio_processor_over_tcp_median": proc["median_us"] / tcp["median_us"],
        "targets": targets,
        "event_loop": loop_factory().__module__,
        "block_period_us": FRAMES / SR * 1e6,
        "compression": None,
        "websockets": websockets.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    write_results("remote", result)
    for name in (
        "tcp_nodelay_echo",
        "tcp_transport_aers_node",
        "remote_processor_tcp_latency0",
        "remote_processor_tcp_latency1_paced",
        "websocket_bare_echo",
        "websocket_aers_node",
        "remote_processor_latency0",
        "remote_processor_latency1_paced",
    ):
        row = result[name]
        print(f"{name:28s} median {row['median_us']:8.1f} µs   p99 {row['p99_us']:8.1f} µs")
    for placement, row in by_placement.items():
        print(
            f"{placement:5s} placement: raw tcp {row['tcp_nodelay_echo']['median_us']:6.1f} / "
            f"{row['tcp_nodelay_echo']['p99_us']:6.1f} µs, tcp transport "
            f"{row['tcp_transport_aers_node']['median_us']:6.1f} / "
            f"{row['tcp_transport_aers_node']['p99_us']:6.1f} µs (median / p99): "
            f"{row['ratio_median']:.2f}× median (target ≤ 2.5×), {row['ratio_p99']:.2f}× p99 "
            "(target ≤ 2×)"
        )
    print(
        f"tcp processor / tcp median {result['ratio_tcp_processor_over_tcp_median']:.1f}×; "
        f"load average {load_before[0]:.2f} before, {result['load_after'][0]:.2f} after"
    )
    print(
        f"bare websocket / tcp median {result['ratio_bare_ws_over_tcp_median']:.1f}×; "
        f"websocket / tcp median {result['ratio_ws_over_tcp_median']:.1f}×, "
        f"p99 {result['ratio_ws_over_tcp_p99']:.1f}×; processor / tcp median "
        f"{result['ratio_processor_over_tcp_median']:.1f}× ({result['event_loop']})"
    )


if __name__ == "__main__":
    main()
