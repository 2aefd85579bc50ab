"""The Python API against pedalboard, and what automation costs, measured in one run.

1. The reference chain (Gain -6 dB → Peak 1 kHz +3 dB Q1 → LowShelf 200 Hz -2 dB →
   Delay 250 ms fb 0.3 mix 0.25 → Reverb room 0.5 → Compressor -18 dB 4:1 5/100 ms) on
   stereo 48 kHz noise, streamed block by block through ``Graph.process`` (an ``input``
   node fed from NumPy, outputs returned as arrays: no file I/O) vs pedalboard processing
   the same blocks with ``reset=False``.
2. Automation overhead: a gain node automated at audio rate (a new value every sample,
   rendered in one kernel call per block through ``Gain.render_changes``), the same with
   that path switched off (the block split at every change: what any parameter without
   ``CHANGE_PARAMS`` costs), at control rate (every 64 samples) and by a breakpoint ramp,
   vs the same graph with a static gain; in-memory ``render``.

Run: ``.venv/bin/python benchmarks/bench_api.py [--seconds 20] [--repeats 3]``
Writes ``benchmarks/results/api.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from _results import write_results

from aers_host import Graph, default_registry, render
from aers_host.cli._doctor import warm_kernels
from aers_host.dsp import Gain

SR = 48_000
REGISTRY = default_registry(entry_points=False, store=False)


def chain_graph(block: int) -> Graph:
    g = Graph(sample_rate=SR, block_size=block, registry=REGISTRY)
    nodes = [
        g.add("input", id="in", channels=2),
        g.add("gain", gain_db=-6),
        g.add("eq", bands=[{"type": "peak", "freq": 1000, "gain_db": 3, "q": 1.0}]),
        g.add("eq", bands=[{"type": "lowshelf", "freq": 200, "gain_db": -2, "q": 0.707}]),
        g.add("delay", ms=250, feedback=0.3, mix=0.25),
        g.add("reverb", room_size=0.5),
        g.add("compressor", threshold_db=-18, ratio=4, attack_ms=5, release_ms=100),
        g.add("output", id="out"),
    ]
    for a, b in itertools.pairwise(nodes):
        g.connect(a, b)
    return g


def time_api(audio: np.ndarray, block: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        g = chain_graph(block)
        t0 = time.perf_counter()
        for start in range(0, audio.shape[1], block):
            g.process(audio[:, start : start + block])
        best = min(best, time.perf_counter() - t0)
        g.close()
    return best


def time_pedalboard(audio: np.ndarray, block: int, repeats: int) -> float | None:
    try:
        import pedalboard as pb
    except ImportError:
        return None
    best = float("inf")
    for _ in range(repeats):
        board = pb.Pedalboard([
            pb.Gain(gain_db=-6), pb.PeakFilter(cutoff_frequency_hz=1000, gain_db=3, q=1.0),
            pb.LowShelfFilter(cutoff_frequency_hz=200, gain_db=-2, q=0.707),
            pb.Delay(delay_seconds=0.25, feedback=0.3, mix=0.25), pb.Reverb(room_size=0.5),
            pb.Compressor(threshold_db=-18, ratio=4, attack_ms=5, release_ms=100),
        ])  # fmt: skip
        t0 = time.perf_counter()
        for start in range(0, audio.shape[1], block):
            board(audio[:, start : start + block], SR, reset=False)
        best = min(best, time.perf_counter() - t0)
    return best


def automation_graph(mode: str, seconds: float) -> Graph:
    g = Graph(sample_rate=SR, block_size=512, registry=REGISTRY)
    src = g.add("noise", level_db=-12, seed=1, channels=2)
    gain = g.add("gain", id="g", gain_db=0, smoothing_ms=0)
    g.connect(src, gain)
    g.connect(gain, g.add("output", id="out"))
    frames = round(seconds * SR)
    if mode == "audio-rate":
        g.automate(gain, "gain_db", np.linspace(-24, 0, frames), hop=1)
    elif mode == "control-rate":
        g.automate(gain, "gain_db", np.linspace(-24, 0, frames // 64), hop=64)
    elif mode == "ramp":
        g.automate(gain, "gain_db", [[0, -24], [seconds, 0, "linear"]])
    return g


@contextlib.contextmanager
def split_every_change(enabled: bool) -> Iterator[None]:
    """Render gain automation the generic way: one event, one block split, per change."""
    saved = Gain.CHANGE_PARAMS
    if enabled:
        Gain.CHANGE_PARAMS = frozenset()
    try:
        yield
    finally:
        Gain.CHANGE_PARAMS = saved


def time_render(g: Graph, seconds: float, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        render(g, seconds)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warm_kernels()
    audio = (0.25 * np.random.default_rng(1).standard_normal((2, int(args.seconds * SR)))).astype(
        np.float32
    )
    results: dict[str, Any] = {"seconds": args.seconds, "chain": {}, "automation": {}}
    for block in (128, 512):
        api = time_api(audio, block, args.repeats)
        ref = time_pedalboard(audio, block, args.repeats)
        row: dict[str, Any] = {"api_rtf": args.seconds / api}
        line = f"chain @ {block:>4}: Graph.process {args.seconds / api:7.1f}x RT"
        if ref is not None:
            row |= {"pedalboard_rtf": args.seconds / ref, "api_over_pedalboard": ref / api}
            line += f" | pedalboard {args.seconds / ref:7.1f}x RT | ratio {ref / api:.2f}"
        results["chain"][str(block)] = row
        print(line, flush=True)
    static = time_render(automation_graph("static", args.seconds), args.seconds, args.repeats)
    for mode in ("audio-rate", "audio-rate-split", "control-rate", "ramp"):
        graph = automation_graph(mode.removesuffix("-split"), args.seconds)
        with split_every_change(mode.endswith("-split")):
            t = time_render(graph, args.seconds, args.repeats)
        results["automation"][mode] = {"seconds": t, "overhead_vs_static": t / static}
        print(
            f"automation {mode:>16}: {t / static:6.2f}x the static gain's render time", flush=True
        )
    results["automation"]["static_seconds"] = static
    write_results("api", results)


if __name__ == "__main__":
    main()
