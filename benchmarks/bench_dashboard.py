"""Engine block time with 0 vs 50 dashboard WebSocket clients, in the same run.

The server runs exactly as ``aers serve`` does (uvicorn in this process, the paced engine
thread beside it, same GIL switch interval). The clients run in a separate process (as
browsers would) and read every frame. Phases alternate — 0 clients, N clients, 0, N… —
so machine drift hits both sides alike; each phase records the engine's own per-block
propagation time (first node in to last node out) from its timing ring.

Prints p50/p99/max per side and the ratio p99(N clients) / p99(0 clients) (issue target:
≤ 1.10), and writes benchmarks/results/dashboard.json.

    .venv/bin/python benchmarks/bench_dashboard.py [--clients 50] [--seconds 4] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from _results import write_results

from aers_host import default_registry, load_config
from aers_host.server import LiveRuntime, create_app, gil_switch_interval

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """
    version: 1
    sample_rate: 48000
    block_size: 512
    nodes:
      dlg:  {type: noise, params: {level_db: -18, seed: 1}}
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      eq1:  {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0}]}}
      dly:  {type: delay, params: {ms: 250, feedback: 0.3, mix: 0.25}}
      g:    {type: gain, params: {gain_db: -6}}
      comp: {type: compressor}
      bus:  {type: mix}
      lim:  {type: limiter}
      main: {type: output}
    connections:
      - {from: dlg, to: eq1}
      - {from: eq1, to: comp}
      - {from: tone, to: dly}
      - {from: dly, to: g}
      - {from: comp, to: bus}
      - {from: g, to: bus, gain_db: -6}
      - {from: bus, to: lim}
      - {from: lim, to: main}
"""
CLIENTS = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.client import connect

    async def reader(url, stats):
        async with connect(url, compression=None, max_size=None) as ws:
            stats["open"] += 1
            async for raw in ws:
                # Parse one message in 30: the clients share this machine's two cores with
                # the server, where real browsers would not.
                stats["messages"] += 1
                if stats["messages"] % 30 == 0:
                    msg = json.loads(raw)
                    if msg["type"] == "frame":
                        stats["dropped"] = max(stats["dropped"], msg["dropped"])

    async def main(url, n):
        stats = {"open": 0, "messages": 0, "dropped": 0}
        tasks = [asyncio.create_task(reader(url, stats)) for _ in range(n)]
        while stats["open"] < n:
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for t in tasks:
            t.cancel()
        print(json.dumps(stats), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def start_server(runtime: LiveRuntime, rate: float) -> tuple[uvicorn.Server, str]:
    app = create_app(runtime, rate=rate, allowed_hosts={"127.0.0.1"})
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, ws_per_message_deflate=False, log_level="warning"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/ws"


def measure(runtime: LiveRuntime, seconds: float) -> tuple[np.ndarray, int]:
    xruns = runtime.xruns
    runtime.reset_history()
    time.sleep(seconds)
    return runtime.block_ns() / 1e3, runtime.xruns - xruns


def stats(us: np.ndarray) -> dict[str, float]:
    return {
        "blocks": int(us.size),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "mean_us": float(us.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="GIL switch interval (s); serve's"
    )
    args = parser.parse_args()

    config_path = ROOT / "benchmarks" / "results" / ".dashboard_bench.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    registry = default_registry(entry_points=False, store=False)
    runtime = LiveRuntime.from_config(load_config(config_path, registry=registry), registry)
    config_path.unlink()
    if args.switch_interval is None:  # what `aers serve` sets
        args.switch_interval = gil_switch_interval(runtime.plan.block_size, runtime.sample_rate)
    sys.setswitchinterval(args.switch_interval)
    server, url = start_server(runtime, args.rate)
    time.sleep(1.0)  # warm-up: JIT, first blocks
    idle: list[np.ndarray] = []
    busy: list[np.ndarray] = []
    xruns = {"idle": 0, "busy": 0}
    client_stats: list[dict[str, Any]] = []
    try:
        for _ in range(args.rounds):
            us, x = measure(runtime, args.seconds)
            idle.append(us)
            xruns["idle"] += x
            proc = subprocess.Popen(
                [sys.executable, "-c", CLIENTS, url, str(args.clients)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.5)
            us, x = measure(runtime, args.seconds)
            busy.append(us)
            xruns["busy"] += x
            proc.stdin.write("\n")
            proc.stdin.flush()
            client_stats.append(json.loads(proc.stdout.readline()))
            proc.wait(10)
    finally:
        server.should_exit = True
        runtime.close()

    zero, many = stats(np.concatenate(idle)), stats(np.concatenate(busy))
    ratio = many["p99_us"] / zero["p99_us"]
    per_round = [
        float(np.percentile(b, 99) / np.percentile(a, 99)) for a, b in zip(idle, busy, strict=True)
    ]
    expected_frames = args.rate * args.seconds * args.clients
    result = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
        "rate_hz": args.rate,
        "switch_interval_s": args.switch_interval,
        "block": {"frames": 512, "sample_rate": 48000, "period_us": 512 / 48000 * 1e6},
        "zero_clients": zero,
        "with_clients": many,
        "p99_ratio": ratio,
        "p99_ratio_per_round": per_round,
        "p99_ratio_median_of_rounds": float(np.median(per_round)),
        "xruns": xruns,
        "client_frames": client_stats,
        "client_frames_expected_per_round": expected_frames,
        "target": "p99_ratio <= 1.10",
        "pass": ratio <= 1.10,
    }
    write_results("dashboard", result)
    print(f"engine block time, {args.rounds}×{args.seconds:g} s per side, {args.rate:g} Hz feed")
    for name, s in (("0 clients", zero), (f"{args.clients} clients", many)):
        print(
            f"  {name:>11}: p50 {s['p50_us']:7.1f} µs  p99 {s['p99_us']:7.1f} µs  "
            f"max {s['max_us']:8.1f} µs  ({s['blocks']} blocks)"
        )
    print(
        f"  p99 ratio {ratio:.3f} (per round {', '.join(f'{r:.3f}' for r in per_round)}); "
        f"median of rounds {np.median(per_round):.3f}; xruns {xruns}; "
        f"target ≤ 1.10 → {'PASS' if ratio <= 1.10 else 'FAIL'}"
    )
    print(
        f"  clients got {[c['messages'] for c in client_stats]} messages "
        f"(expected ~{expected_frames:.0f} each round), max dropped "
        f"{max(c['dropped'] for c in client_stats)}"
    )


if __name__ == "__main__":
    main()
