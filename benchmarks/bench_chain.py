"""Reference chain through the AERS engine vs pedalboard, measured in the same run.

Chains (60 s of stereo 48 kHz noise, streamed block by block on both sides):

* full: Gain(-6 dB) → Peak(1 kHz, +3 dB, Q 1) → LowShelf(200 Hz, -2 dB, Q 0.707) →
  Delay(250 ms, fb 0.3, mix 0.25) → Reverb(room 0.5) → Compressor(-18 dB, 4:1, 5/100 ms)
* four: Gain → Peak → LowShelf → Delay
* graph32: a 32-node graph (4 sources, EQs, delays, mixes) at 512, AERS only

AERS runs the real engine (plan, per-node dispatch, input mixing, output sink), not a
fused script. pedalboard gets the same blocks with ``reset=False``.

Run: ``.venv/bin/python benchmarks/bench_chain.py [--seconds 60] [--repeats 3]``
Writes ``benchmarks/results/chain.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from _results import write_results

from aers_host import default_registry, load_config
from aers_host.cli._doctor import warm_kernels
from aers_host.graph import render

SR = 48_000

FULL = [
    ("g", {"type": "gain", "params": {"gain_db": -6}}),
    (
        "pk",
        {
            "type": "eq",
            "params": {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3, "q": 1.0}]},
        },
    ),
    (
        "ls",
        {
            "type": "eq",
            "params": {"bands": [{"type": "lowshelf", "freq": 200, "gain_db": -2, "q": 0.707}]},
        },
    ),
    ("dl", {"type": "delay", "params": {"ms": 250, "feedback": 0.3, "mix": 0.25}}),
    ("rv", {"type": "reverb", "params": {"room_size": 0.5}}),
    (
        "cp",
        {
            "type": "compressor",
            "params": {"threshold_db": -18, "ratio": 4, "attack_ms": 5, "release_ms": 100},
        },
    ),
]


def chain_config(
    media: Path, chain: list[tuple[str, dict[str, Any]]], block: int, seconds: float
) -> dict[str, Any]:
    nodes: dict[str, Any] = {"src": {"type": "file", "params": {"path": str(media)}}}
    connections = []
    previous = "src"
    for node_id, node in chain:
        nodes[node_id] = node
        connections.append({"from": previous, "to": node_id})
        previous = node_id
    nodes["out"] = {"type": "output"}
    connections.append({"from": previous, "to": "out"})
    return {
        "sample_rate": SR,
        "block_size": block,
        "duration": seconds,
        "nodes": nodes,
        "connections": connections,
    }


def graph32_config(seconds: float) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    connections: list[dict[str, Any]] = []
    buses = []
    for i in range(4):  # 4 sources x (eq, eq, delay, gain, mix...) = 32 nodes with the master
        s, e1, e2, d, g, m, p = (f"{k}{i}" for k in ("src", "eqa", "eqb", "dly", "gn", "mx", "pk"))
        nodes[s] = {
            "type": "noise" if i % 2 else "sine",
            "params": {"level_db": -20, **({"seed": i} if i % 2 else {"freq": 220 * (i + 1)})},
        }
        nodes[e1] = {
            "type": "eq",
            "params": {"bands": [{"type": "peak", "freq": 500 + 300 * i, "gain_db": 2, "q": 1}]},
        }
        nodes[e2] = {
            "type": "eq",
            "params": {"bands": [{"type": "highpass", "freq": 80, "q": 0.707}]},
        }
        nodes[d] = {"type": "delay", "params": {"ms": 50 + 20 * i, "feedback": 0.2, "mix": 0.3}}
        nodes[g] = {"type": "gain", "params": {"gain_db": -3}}
        nodes[p] = {"type": "pan", "params": {"pan": -0.6 + 0.4 * i}}
        nodes[m] = {"type": "mix"}
        connections += [
            {"from": s, "to": e1},
            {"from": e1, "to": e2},
            {"from": e2, "to": d},
            {"from": d, "to": g},
            {"from": g, "to": m},
            {"from": e1, "to": m, "gain_db": -12},
            {"from": m, "to": p},
        ]
        buses.append(p)
    nodes["master"] = {"type": "mix"}
    nodes["master_eq"] = {
        "type": "eq",
        "params": {"bands": [{"type": "highshelf", "freq": 8000, "gain_db": -1, "q": 0.707}]},
    }
    nodes["master_gain"] = {"type": "gain", "params": {"gain_db": -6}}
    nodes["out"] = {"type": "output"}
    connections += [{"from": b, "to": "master"} for b in buses]
    connections += [
        {"from": "master", "to": "master_eq"},
        {"from": "master_eq", "to": "master_gain"},
        {"from": "master_gain", "to": "out"},
    ]
    for i in range(4):
        nodes[f"src{i}"]["params"]["channels"] = 1
    assert len(nodes) == 32, len(nodes)
    return {
        "sample_rate": SR,
        "block_size": 512,
        "duration": seconds,
        "nodes": nodes,
        "connections": connections,
    }


def run_aers(data: dict[str, Any], workdir: Path, repeats: int) -> dict[str, Any]:
    registry = default_registry(entry_points=False, store=False)
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    cfg = load_config(path, registry=registry)
    best = None
    for _ in range(repeats):
        result = render(cfg, registry, out_dir=None)
        if best is None or result.wall_seconds < best.wall_seconds:
            best = result
    assert best is not None
    count = best.timings.count
    node_us = np.median(best.timings.node_ns[:count], axis=0) / 1000.0
    return {
        "wall_s": best.wall_seconds,
        "rtf": best.realtime_factor,
        "block_p50_us": float(np.median(best.timings.block_ns[:count]) / 1000.0),
        "node_p50_us": {n.id: float(us) for n, us in zip(best.plan.nodes, node_us, strict=True)},
    }


def pedalboard_board(full: bool) -> Any:
    """The pedalboard twin of ``FULL`` (or of its first four nodes)."""
    import pedalboard as pb

    plugins = [
        pb.Gain(gain_db=-6),
        pb.PeakFilter(cutoff_frequency_hz=1000, gain_db=3, q=1.0),
        pb.LowShelfFilter(cutoff_frequency_hz=200, gain_db=-2, q=0.707),
        pb.Delay(delay_seconds=0.25, feedback=0.3, mix=0.25),
    ]
    if full:
        plugins += [
            pb.Reverb(room_size=0.5),
            pb.Compressor(threshold_db=-18, ratio=4, attack_ms=5, release_ms=100),
        ]
    return pb.Pedalboard(plugins)


def run_pedalboard(
    audio: np.ndarray, block: int, full: bool, repeats: int
) -> dict[str, Any] | None:
    try:
        import pedalboard  # noqa: F401
    except ImportError:
        return None
    best = float("inf")
    for _ in range(repeats):
        board = pedalboard_board(full)
        t0 = time.perf_counter()
        for start in range(0, audio.shape[1], block):
            board(audio[:, start : start + block], SR, reset=False)
        best = min(best, time.perf_counter() - t0)
    return {"wall_s": best, "rtf": audio.shape[1] / SR / best}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warm_kernels()
    rng = np.random.default_rng(1)
    audio = (0.25 * rng.standard_normal((2, int(args.seconds * SR)))).astype(np.float32)
    results: dict[str, Any] = {"seconds": args.seconds, "sample_rate": SR, "chains": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        media = work / "noise.wav"
        sf.write(media, audio.T, SR, subtype="FLOAT")
        for name, chain in (("full", FULL), ("four", FULL[:4])):
            for block in (128, 512):
                aers = run_aers(chain_config(media, chain, block, args.seconds), work, args.repeats)
                ref = run_pedalboard(audio, block, name == "full", args.repeats)
                ratio = aers["rtf"] / ref["rtf"] if ref else None
                results["chains"][f"{name}@{block}"] = {
                    "aers": aers,
                    "pedalboard": ref,
                    "aers_over_pedalboard": ratio,
                }
                line = f"{name:>5} @ {block:>4}: AERS {aers['rtf']:7.1f}x RT"
                if ref:
                    line += f" | pedalboard {ref['rtf']:7.1f}x RT | ratio {ratio:.2f}"
                print(line, flush=True)
        g32 = run_aers(graph32_config(args.seconds), work, args.repeats)
        per_node = g32["block_p50_us"] / 32
        mix_nodes = [
            us
            for node, us in g32["node_p50_us"].items()
            if node.startswith("mx") or node == "master"
        ]
        results["graph32@512"] = {
            **g32,
            "block_us_per_node": per_node,
            "mix_node_p50_us": float(np.median(mix_nodes)),
        }
        print(
            f"graph32 @  512: {g32['rtf']:7.1f}x RT on one core; "
            f"block p50 {g32['block_p50_us']:.1f} us "
            f"= {per_node:.2f} us/node; "
            f"a mix node (dispatch + sum + copy) p50 {np.median(mix_nodes):.2f} us"
        )
    write_results("chain", results)


if __name__ == "__main__":
    main()
