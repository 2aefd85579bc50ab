"""Native C++ effects vs the built-in NumPy/numba DSP vs pedalboard, in the same run.

60 s of stereo noise at 48 kHz goes through each implementation block by block (128 and 512
frames, each block a separate call, as the engine drives a node: the input copied into a
preallocated buffer, the output written into another — pedalboard, which returns a new array,
has it copied into ``out``). Best of ``--repeat`` runs, implementations interleaved:

* reverb: native_reverb (C++ via ctypes) | aers_host.dsp.Reverb (numba) | pedalboard.Reverb
* biquad: native_eq peak (C++ via ctypes) | aers_host.dsp.Eq one peak band (numba) |
  scipy.signal.sosfilt per block (zi carried) | pedalboard.PeakFilter

Prints a table with ratios (time of X / time of native; > 1 means native is faster) and writes
benchmarks/results/native.json. Target: native biquad at least matches pedalboard at 512.

    .venv/bin/python benchmarks/bench_native.py [--seconds 60] [--repeat 7]
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_results

from aers_host.native import build_plugin, load_native_plugin
from aers_host.plugin_api import CheckContext
from aers_host.plugins._model import FileRecord, SignedPart
from aers_host.plugins._verified import VerifiedPlugin

ROOT = Path(__file__).resolve().parents[1]
SR = 48000
BLOCKS = (128, 512)
REVERB = {"room_size": 0.5, "damping": 0.5, "wet": 0.33, "dry": 0.4, "width": 1.0}
PEAK = {"freq": 1000.0, "gain_db": 6.0, "q": 1.0}

Runner = Callable[[np.ndarray, int], None]


def _native(tmp: Path, name: str, params: dict[str, float]) -> Callable[[int], Runner]:
    folder = tmp / name
    shutil.copytree(ROOT / "plugins" / name, folder)
    (lib,) = build_plugin(folder)
    data = lib.read_bytes()
    plugin = VerifiedPlugin(
        name=name,
        version="1.0.0",
        kind="native",
        entry=f"{lib.name}:aers_plugin_entry",
        isolation="in-process",
        files={lib.name: data},
        manifest=SignedPart(
            spec_version="1.0",
            name=name,
            version="1.0.0",
            kind="native",
            entry=f"{lib.name}:aers_plugin_entry",
            isolation="in-process",
            files={lib.name: FileRecord(hashlib.sha256(data).hexdigest(), len(data))},
            params=(),
            permissions=(),
            expires="2099-01-01T00:00:00Z",
        ),
    )
    ctx = CheckContext(SR, max(BLOCKS), Path("."))

    def make(block: int) -> Runner:
        proc = load_native_plugin(plugin, params, ctx)
        proc.prepare(SR, block, 2)
        return _engine_loop(proc.process, block)

    return make


def _engine_loop(process: Callable[..., None], block: int) -> Runner:
    """Drive ``process`` like the engine: preallocated buffers, views for a short last block."""
    inbuf = np.zeros((2, block), np.float32)
    outbuf = np.zeros((2, block), np.float32)

    def run(x: np.ndarray, _block: int) -> None:
        for pos in range(0, x.shape[1], block):
            n = min(block, x.shape[1] - pos)
            inp, out = (inbuf, outbuf) if n == block else (inbuf[:, :n], outbuf[:, :n])
            inp[...] = x[:, pos : pos + n]
            process(inp, out, pos, ())

    return run


def _builtin_reverb(block: int) -> Runner:
    from aers_host.dsp import Reverb

    proc = Reverb(room_size=0.5, damping=0.5, wet_level=0.33, dry_level=0.4, width=1.0)
    proc.prepare(SR, block, 2)
    return _engine_loop(proc.process, block)


def _builtin_eq(block: int) -> Runner:
    from aers_host.dsp import Eq

    proc = Eq(bands=[{"type": "peak", **PEAK}])
    proc.prepare(SR, block, 2)
    return _engine_loop(proc.process, block)


def _scipy_sos(block: int) -> Runner:
    from scipy.signal import sosfilt

    from aers_host.dsp import rbj_sos

    sos = rbj_sos({"type": "peak", **PEAK}, SR)
    zi = np.zeros((sos.shape[0], 2, 2))

    def process(inp: np.ndarray, out: np.ndarray, start: int, events: Any) -> None:
        nonlocal zi
        y, zi = sosfilt(sos, inp, axis=1, zi=zi)
        out[...] = y

    return _engine_loop(process, block)


def _pedalboard(make_plugin: Callable[[], Any]) -> Callable[[int], Runner]:
    """pedalboard behind the same engine loop: it returns a new array, copied into ``out``."""

    def make(block: int) -> Runner:
        plugin = make_plugin()

        def process(inp: np.ndarray, out: np.ndarray, start: int, events: Any) -> None:
            out[...] = plugin.process(inp, SR, reset=False)

        return _engine_loop(process, block)

    return make


def _time_all(
    impls: dict[str, Callable[[int], Runner]], x: np.ndarray, block: int, repeat: int
) -> dict[str, float]:
    """Best-of-``repeat`` seconds per implementation, interleaved so load noise hits all alike."""
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(repeat):
        for name, make in impls.items():
            make(block)(x[:, : block * 4], block)  # warm-up: JIT, page faults, caches
            run = make(block)
            t0 = time.perf_counter()
            run(x, block)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--out", type=Path, help="results JSON (default: benchmarks/results/native.json)"
    )
    args = parser.parse_args()

    import pedalboard

    x = (0.25 * np.random.default_rng(0).standard_normal((2, int(args.seconds * SR)))).astype(
        np.float32
    )
    with tempfile.TemporaryDirectory(prefix="aers-bench-") as tmp:
        suites: dict[str, dict[str, Callable[[int], Runner]]] = {
            "reverb": {
                "native": _native(Path(tmp), "native_reverb", REVERB),
                "builtin_numba": _builtin_reverb,
                "pedalboard": _pedalboard(
                    lambda: pedalboard.Reverb(
                        room_size=0.5, damping=0.5, wet_level=0.33, dry_level=0.4, width=1.0
                    )
                ),
            },
            "biquad": {
                "native": _native(Path(tmp), "native_eq", PEAK),
                "builtin_numba": _builtin_eq,
                "scipy_sosfilt": _scipy_sos,
                "pedalboard": _pedalboard(
                    lambda: pedalboard.PeakFilter(
                        cutoff_frequency_hz=PEAK["freq"], gain_db=PEAK["gain_db"], q=PEAK["q"]
                    )
                ),
            },
        }
        results: dict[str, Any] = {}
        for suite, impls in suites.items():
            for block in BLOCKS:
                times = _time_all(impls, x, block, args.repeat)
                native = times["native"]
                results.setdefault(suite, {})[str(block)] = {
                    "seconds": times,
                    "realtime_factor": {k: args.seconds / v for k, v in times.items()},
                    "ratio_vs_native": {k: v / native for k, v in times.items() if k != "native"},
                }
    target = results["biquad"]["512"]["ratio_vs_native"]["pedalboard"]
    report = {
        "audio": {"seconds": args.seconds, "sample_rate": SR, "channels": 2},
        "blocks": list(BLOCKS),
        "repeat": args.repeat,
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "pedalboard": pedalboard.__version__,
        },
        "results": results,
        "target": {
            "native_biquad_at_least_matches_pedalboard_at_512": target >= 1.0,
            "pedalboard_over_native_biquad_512": target,
        },
    }
    print(f"{'suite':7} {'block':>5} {'impl':14} {'seconds':>8} {'x realtime':>10} {'t/native':>9}")
    for suite, by_block in results.items():
        for block, row in by_block.items():
            for impl, secs in row["seconds"].items():
                ratio = row["ratio_vs_native"].get(impl, 1.0)
                print(
                    f"{suite:7} {block:>5} {impl:14} {secs:8.4f} "
                    f"{row['realtime_factor'][impl]:10.0f} {ratio:9.2f}"
                )
    verdict = "met" if target >= 1.0 else "NOT met"
    print(f"target (native biquad >= pedalboard at 512): {verdict}, ratio {target:.2f}")
    write_results("native", report, args.out)


if __name__ == "__main__":
    main()
