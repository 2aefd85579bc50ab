"""What offline timing costs: the same sandboxed graph rendered offline and in real time.

Run:  .venv/bin/python benchmarks/bench_timing_modes.py [--seconds 2] [--repeats 3]

Offline (what ``aers render`` uses) waits for every block and has each worker snapshot its
plugin's state after every block, so a retried block starts exactly where the lost one did.
Real time waits at most a deadline and snapshots every 0.25 s. Here the deadline is set
generously (1 s), so neither mode substitutes audio and the two outputs must be equal; the
difference in wall and host CPU time is the price of the offline guarantees.

Graph: noise → 2 sandboxed stateful plugins (per-instance workers) → out, 48 kHz stereo,
at block sizes 64 and 512. Each mode is rendered ``--repeats`` times, interleaved, and the
median is kept (a shared machine's load hits both modes alike). Printed, and written to
``benchmarks/results/timing_modes.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aers_host import default_registry  # noqa: E402
from aers_host._timing import OFFLINE, REALTIME, Timing  # noqa: E402
from aers_host.config import ParsedDocument, validate_config_data  # noqa: E402
from aers_host.graph import render  # noqa: E402
from aers_host.plugins import StorePluginType  # noqa: E402
from aers_host.plugins._model import ManifestParam  # noqa: E402
from aers_host.plugins._verified import VerifiedPlugin  # noqa: E402

SOURCE = b"""import numpy as np

class Drift:
    def prepare(self, sample_rate, max_block, channels):
        self.n = 0
    def process(self, inp, out, start, events):
        self.n = self.n + 1
        np.multiply(inp, self.params["gain"], out=out)
    def get_state(self):
        return {"n": self.n}
    def set_state(self, state):
        self.n = state["n"]
"""
DRIFT = VerifiedPlugin(
    "bench-drift", "1.0.0", "python", "drift.py:Drift", "sandbox", {"drift.py": SOURCE},
    params=(ManifestParam.from_dict(
        {"name": "gain", "default": 0.5, "min": 0.0, "max": 2.0}, "params.0"),),
    keyid="bench",
)  # fmt: skip


def config(registry: dict[str, Any], block: int, seconds: float) -> Any:
    doc = {
        "version": 1, "sample_rate": 48_000, "block_size": block, "duration": seconds,
        "nodes": {
            "src": {"type": "noise", "params": {"level_db": -6, "seed": 1, "channels": 2}},
            "d1": {"type": "bench-drift", "deadline_ms": 1000},
            "d2": {"type": "bench-drift", "deadline_ms": 1000},
            "out": {"type": "output"},
        },
        "connections": [
            {"from": "src", "to": "d1"}, {"from": "d1", "to": "d2"}, {"from": "d2", "to": "out"}
        ],
    }  # fmt: skip
    return validate_config_data(ParsedDocument(doc, "<bench>"), registry=registry, base_dir=ROOT)


def one(registry: dict[str, Any], block: int, seconds: float, timing: Timing) -> dict[str, Any]:
    cfg = config(registry, block, seconds)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = render(cfg, registry, out_dir=None, capture=True, timing=timing)
    return {
        "wall_s": time.perf_counter() - wall0,
        "host_cpu_s": time.process_time() - cpu0,
        "substituted": result.substituted_samples,
        "audio": result.captured["out"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    registry = {**default_registry(entry_points=False, store=False)}
    registry["bench-drift"] = StorePluginType.of(DRIFT)
    results: dict[str, Any] = {
        "machine": platform.platform(), "python": platform.python_version(),
        "seconds": args.seconds, "repeats": args.repeats, "blocks": {},
    }  # fmt: skip
    for block in (64, 512):
        runs: dict[str, list[dict[str, Any]]] = {"offline": [], "realtime": []}
        for _ in range(args.repeats):
            for name, timing in (("offline", OFFLINE), ("realtime", REALTIME)):
                runs[name].append(one(registry, block, args.seconds, timing))
        same = all(
            np.array_equal(r["audio"], runs["offline"][0]["audio"])
            for r in runs["offline"] + runs["realtime"]
            if r["substituted"] == 0
        )
        row: dict[str, Any] = {"outputs_equal": same}
        for name, items in runs.items():
            row[name] = {
                "wall_s": statistics.median(r["wall_s"] for r in items),
                "host_cpu_s": statistics.median(r["host_cpu_s"] for r in items),
                "substituted_samples": max(r["substituted"] for r in items),
            }
        row["offline_over_realtime_wall"] = row["offline"]["wall_s"] / row["realtime"]["wall_s"]
        results["blocks"][str(block)] = row
        print(
            f"block {block:4}: offline {row['offline']['wall_s']:.2f} s, real time "
            f"{row['realtime']['wall_s']:.2f} s → ×{row['offline_over_realtime_wall']:.2f}; "
            f"outputs equal: {same}; substituted (real time) "
            f"{row['realtime']['substituted_samples']}"
        )
    out = ROOT / "benchmarks" / "results" / "timing_modes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
