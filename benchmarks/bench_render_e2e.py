"""End-to-end render vs pedalboard + soundfile, measured in the same run.

The work, on both sides: read a 120 s stereo 48 kHz WAV, run the 4-node chain of
``bench_chain.py`` (gain → peak EQ → low shelf → delay) at 512-frame blocks, write a
float WAV. AERS runs what ``aers render`` runs (``render_run``: plan, engine, output
writer, and ``metrics.json`` with integrated/short-term/momentary loudness, loudness
range, true peak and per-node timing), in process, so interpreter start-up and imports
are not counted; kernels are compiled before timing, as ``aers doctor --warm`` leaves
them. pedalboard is timed twice: streaming the same 512-frame blocks (``reset=False``),
and processing the whole buffer in one call (its fastest mode). The sides alternate, each figure is
the best of ``--repeats``; the ratios are the reference's time over AERS's (> 1: AERS
is faster), by wall clock and by CPU time (process time, which a loaded machine
disturbs less).

Run: ``.venv/bin/python benchmarks/bench_render_e2e.py [--seconds 120] [--repeats 3]``
Writes ``benchmarks/results/render_e2e.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from _results import write_results
from bench_chain import FULL, SR, chain_config, pedalboard_board

from aers_host import default_registry, load_config
from aers_host._pipeline import render_run
from aers_host.cli._doctor import warm_kernels

BLOCK = 512


def aers_once(cfg: Any, registry: Any, out_dir: Path, seconds: float) -> dict[str, Any]:
    """One in-process ``aers render`` of the chain, with the engine loop's share of it."""
    t0, c0 = time.perf_counter(), time.process_time()
    outcome = render_run(cfg, registry, out_dir=out_dir)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = outcome.metrics["outputs"]["out"]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "engine_loop_s": outcome.result.wall_seconds,
        "rtf": seconds / wall,
        "integrated_lufs": out["integrated_lufs"],
        "loudness_range_lu": out["loudness_range_lu"],
        "true_peak_dbtp": out["true_peak_dbtp"],
        "metrics_json": (out_dir / "metrics.json").is_file(),
    }


def pedalboard_once(media: Path, out: Path, mode: str, seconds: float) -> dict[str, Any]:
    """One read → chain → write with pedalboard, block-streamed or in one call."""
    board = pedalboard_board(full=False)
    t0, c0 = time.perf_counter(), time.process_time()
    audio = np.ascontiguousarray(sf.read(media, dtype="float32", always_2d=True)[0].T)
    if mode == "whole":
        processed = board(audio, SR)
    else:
        parts = [
            board(audio[:, s : s + BLOCK], SR, reset=False) for s in range(0, audio.shape[1], BLOCK)
        ]
        processed = np.concatenate(parts, axis=1)
    sf.write(out, processed.T, SR, subtype="FLOAT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "rtf": seconds / wall}


def interleaved(media: Path, work: Path, seconds: float, repeats: int) -> dict[str, Any]:
    """Best of ``repeats`` for each side, the sides alternating so load hits all alike."""
    registry = default_registry(entry_points=False, store=False)
    path = work / "e2e.yaml"
    path.write_text(yaml.safe_dump(chain_config(media, FULL[:4], BLOCK, seconds)), "utf-8")
    cfg = load_config(path, registry=registry)
    best: dict[str, dict[str, Any]] = {}
    for i in range(repeats):
        runs = {
            "aers": aers_once(cfg, registry, work / f"aers{i}", seconds),
            "pedalboard_blocks": pedalboard_once(media, work / "pb.wav", "blocks", seconds),
            "pedalboard_whole": pedalboard_once(media, work / "pb.wav", "whole", seconds),
        }
        for side, run in runs.items():
            if side not in best or run["wall_s"] < best[side]["wall_s"]:
                best[side] = run
            best[side]["min_cpu_s"] = min(best[side].get("min_cpu_s", run["cpu_s"]), run["cpu_s"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warm_kernels()
    load_before = list(os.getloadavg())
    rng = np.random.default_rng(1)
    audio = (0.25 * rng.standard_normal((2, int(args.seconds * SR)))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        media = work / "noise.wav"
        sf.write(media, audio.T, SR, subtype="FLOAT")
        best = interleaved(media, work, args.seconds, args.repeats)
    aers = best["aers"]
    ratios = {side: best[side]["wall_s"] / aers["wall_s"] for side in best if side != "aers"}
    cpu_ratios = {
        side: best[side]["min_cpu_s"] / aers["min_cpu_s"] for side in best if side != "aers"
    }
    results = {
        "seconds": args.seconds,
        "sample_rate": SR,
        "block_size": BLOCK,
        "loadavg_before": load_before,
        "best": best,
        "aers_over_pedalboard": ratios,
        "aers_over_pedalboard_cpu": cpu_ratios,
    }
    print(
        f"aers render (metrics incl.): {aers['rtf']:6.1f}x RT ({aers['wall_s']:.3f} s wall, "
        f"{aers['min_cpu_s']:.3f} s CPU; engine loop {aers['engine_loop_s']:.3f} s)"
    )
    for side in ratios:
        ref = best[side]
        print(
            f"{side:>18} + soundfile: {ref['rtf']:6.1f}x RT ({ref['wall_s']:.3f} s wall, "
            f"{ref['min_cpu_s']:.3f} s CPU) | ratio {ratios[side]:.2f} wall, "
            f"{cpu_ratios[side]:.2f} CPU"
        )
    write_results("render_e2e", results)


if __name__ == "__main__":
    main()
