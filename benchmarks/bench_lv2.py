"""LV2 hosting cost: the LSP parametric EQ in a worker, in-process, and AERS's built-in EQ.

Run:  .venv/bin/python benchmarks/bench_lv2.py [--blocks 2000]

Needs Debian's ``lsp-plugins-lv2`` and ``liblilv-0-0``. Measures, in one run on this machine,
blocks of 128 and 512 stereo frames at 48 kHz, per-block ``process()`` median and p99 in µs,
every case timed in alternating rounds so load drift on a shared machine hits all alike:

* ``lsp_eq_worker`` — ``para_equalizer_x16_stereo`` adopted (ephemeral key) and run in a
  fenced worker (``isolation: per-instance``), one bell band at 1 kHz;
* ``lsp_eq_inprocess`` — the same plugin dlopened in this process;
* ``builtin_eq`` — AERS's own ``eq`` node with the same band;
* ``python_worker`` / ``python_inprocess`` — a Python gain plugin sandboxed and not, the
  reference for what a worker hop costs.

The *hop* of a kind is its worker median minus its in-process median; the target is that
the LV2 hop costs no more than the Python sandbox's (``lv2_hop_le_python_hop``, and
``..._within_noise`` allowing the 5 % a median moves between runs — both use the same
worker, pipes and shared memory, so they are expected to be equal). Results are
printed and written to ``benchmarks/results/lv2.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sandbox import GAIN, stats  # noqa: E402  (the same gain plugin, timed the same way)

from aers_host import builtin_names, default_registry  # noqa: E402
from aers_host.lv2 import load_lv2_plugin  # noqa: E402
from aers_host.lv2._adopt import adopt_bundle, plan_adoption  # noqa: E402
from aers_host.lv2._lilv import describe_bundle  # noqa: E402
from aers_host.plugin_api import CheckContext, Processor  # noqa: E402
from aers_host.plugins import PluginStore  # noqa: E402
from aers_host.plugins._keyring import Keyring  # noqa: E402
from aers_host.plugins._keys import generate_key, public_key_pem  # noqa: E402
from aers_host.plugins._verified import VerifiedPlugin  # noqa: E402
from aers_host.sandbox import load_python_plugin  # noqa: E402

RATE = 48_000
BUNDLE = Path("/usr/lib/lv2/lsp-plugins.lv2")
EQ_URI = "http://lsp-plug.in/plugins/lv2/para_equalizer_x16_stereo"
LSP_BAND = {"ft_0": 1.0, "f_0": 1000.0, "g_0": 2.0, "q_0": 1.0}  # bell, +6 dB
BUILTIN_BAND = {"bands": [{"type": "peak", "freq": 1000.0, "gain_db": 6.0, "q": 1.0}]}
WORKER = {"deadline_ms": 100.0}
#: Run-to-run spread of a hop's median on these machines (interleaved rounds): two hops
#: closer than this are equal as far as one run can tell.
NOISE = 0.05


def time_interleaved(
    procs: dict[str, Processor], frames: int, n: int, rounds: int = 40
) -> dict[str, Any]:
    """Per-block times of every processor, measured in alternating rounds.

    Why interleaved: on a shared machine the load drifts during a run; taking each case's
    blocks in turns spreads that drift evenly, so the hops compare fairly.
    """
    inp = np.random.default_rng(1).standard_normal((2, frames)).astype(np.float32) * 0.1
    out = np.zeros_like(inp)
    times: dict[str, list[float]] = {name: [] for name in procs}
    start = 0
    for proc in procs.values():  # warm-up, not timed
        for _ in range(100):
            proc.process(inp, out, start, ())
            start += frames
    for _ in range(rounds):
        for name, proc in procs.items():
            for _ in range(max(1, n // rounds)):
                t0 = time.perf_counter()
                proc.process(inp, out, start, ())
                times[name].append(time.perf_counter() - t0)
                start += frames
    result: dict[str, Any] = {}
    for name, proc in procs.items():
        result[name] = stats(times[name])
        result[name]["fallback_blocks"] = int(getattr(proc, "fallback_blocks", 0))
    return result


def adopted_eq(folder: Path) -> VerifiedPlugin:
    """The LSP EQ adopted and verified with an ephemeral key (nothing installed)."""
    key = generate_key()
    keyring = Keyring().with_key(public_key_pem(key.public_key()), "native", "bench")
    plan = plan_adoption(describe_bundle(BUNDLE, EQ_URI), "bench-lsp-eq")
    adopt_bundle(plan, folder / "eq", key, reserved=builtin_names())
    store = PluginStore(
        folder / "store", keyring=keyring, now=datetime.now(UTC), reserved=builtin_names()
    )
    return store.verify_dir(folder / "eq")


def bench(eq: VerifiedPlugin, frames: int, n: int) -> dict[str, Any]:
    def ctx(**options: Any) -> CheckContext:
        return CheckContext(RATE, frames, ROOT, node_id="bench", node_options=options)

    builtin = default_registry(entry_points=False, store=False)["eq"]
    cases: dict[str, Callable[[], Processor]] = {
        "lsp_eq_worker": lambda: load_lv2_plugin(eq, LSP_BAND, ctx(isolation="per-instance",
                                                                  **WORKER)),
        "lsp_eq_inprocess": lambda: load_lv2_plugin(eq, LSP_BAND, ctx(isolation="in-process")),
        "builtin_eq": lambda: builtin.create(BUILTIN_BAND, ctx()),
        "python_worker": lambda: load_python_plugin(GAIN, {}, ctx(isolation="sandbox", **WORKER)),
        "python_inprocess": lambda: load_python_plugin(GAIN, {}, ctx(isolation="in-process")),
    }  # fmt: skip
    procs = {name: make() for name, make in cases.items()}
    try:
        for proc in procs.values():
            proc.prepare(RATE, frames, 2)
        result = time_interleaved(procs, frames, n)
    finally:
        for proc in procs.values():
            close = getattr(proc, "close", None)
            if callable(close):
                close()
    lv2_hop = result["lsp_eq_worker"]["median_us"] - result["lsp_eq_inprocess"]["median_us"]
    py_hop = result["python_worker"]["median_us"] - result["python_inprocess"]["median_us"]
    result["lv2_hop_us"] = round(lv2_hop, 2)
    result["python_hop_us"] = round(py_hop, 2)
    result["ratio_lv2_hop_to_python_hop"] = round(lv2_hop / py_hop, 2) if py_hop > 0 else None
    result["ratio_lsp_inprocess_to_builtin"] = round(
        result["lsp_eq_inprocess"]["median_us"] / result["builtin_eq"]["median_us"], 2
    )
    result["lv2_hop_le_python_hop"] = lv2_hop <= py_hop
    result["lv2_hop_le_python_hop_within_noise"] = lv2_hop <= py_hop * (1 + NOISE)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument(
        "--out", type=Path, help="results JSON (default: benchmarks/results/lv2.json)"
    )
    args = parser.parse_args()
    if not BUNDLE.is_dir():
        sys.exit(f"needs {BUNDLE} (apt-get install lsp-plugins-lv2)")
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        },
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as tmp:
        eq = adopted_eq(Path(tmp))
        for frames in (128, 512):
            report[f"eq_{frames}x2"] = bench(eq, frames, args.blocks)
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    write_results("lv2", report, args.out)


if __name__ == "__main__":
    main()
