"""Batch throughput: 64 variants of the demo scene on a LocalCluster of 1 vs 2 workers.

The scene is ``examples/demo.yaml`` when it exists and validates; otherwise a demo-like
graph built from built-ins in a temp folder (two sources, EQ, delay, reverb, compressor,
mix, a PCM_16 output). The sweep is 16 noise seeds × 2 EQ gains × 2 delay feedbacks (for
examples/demo.yaml: 4 echo feedbacks × 4 tremolo depths × 4 limiter thresholds), all at
``--duration`` seconds.

For each worker count: start the cluster, warm every worker (imports, JIT cache), then
time ``run_sweep`` from submit to last result (throughput, variants/s) and, separately,
the whole run including cluster start-up and shut-down (end to end). Scaling efficiency
is speedup / workers.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--duration 20] [--variants 64]
[--scene auto|demo|builtin]``. Writes ``benchmarks/results/batch.json`` (``scenes.<name>``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _results import RESULTS, write_results

from aers_host import load_config
from aers_host.batch import load_sweep, local_client, run_sweep
from aers_host.errors import AersError

SCENES = {
    "demo": "examples/demo.yaml (events, sandboxed python + native plugins), 4 echo "
    "feedbacks x 4 tremolo depths x 4 limiter thresholds",
    "builtin": "demo-like graph of 8 built-in nodes, 16 seeds x 2 EQ gains x 2 feedbacks",
}
DEMO = Path(__file__).parent.parent / "examples" / "demo.yaml"

SCENE: dict[str, Any] = {
    "sample_rate": 48000,
    "block_size": 512,
    "nodes": {
        "tone": {"type": "sine", "params": {"freq": 220, "level_db": -18}},
        "hiss": {"type": "noise", "params": {"seed": 1, "color": "pink", "level_db": -24}},
        "eq1": {
            "type": "eq",
            "params": {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3, "q": 1.0}]},
        },
        "dly": {"type": "delay", "params": {"ms": 250, "feedback": 0.3, "mix": 0.25}},
        "rv": {"type": "reverb", "params": {"room_size": 0.5}},
        "bus": {"type": "mix"},
        "comp": {"type": "compressor", "params": {"threshold_db": -18, "ratio": 4}},
        "main": {"type": "output", "params": {"path": "main.wav", "subtype": "PCM_16"}},
    },
    "connections": [
        {"from": "hiss", "to": "eq1"},
        {"from": "eq1", "to": "rv"},
        {"from": "tone", "to": "dly"},
        {"from": "rv", "to": "bus"},
        {"from": "dly", "to": "bus", "gain_db": -6},
        {"from": "bus", "to": "comp"},
        {"from": "comp", "to": "main"},
    ],
}


#: Demo parameters that change the audio (its events carry their own seeds, so the
#: top-level ``seed`` alone would render 64 identical mixes); 4 × 4 × 4 = 64 variants.
DEMO_AXES: dict[str, list[float]] = {
    "nodes.echo.params.feedback": [0.1, 0.2, 0.3, 0.4],
    "nodes.dlg_trem.params.depth": [0.1, 0.2, 0.3, 0.4],
    "nodes.lim.params.threshold_db": [-1.0, -2.0, -3.0, -6.0],
}


def _demo_sweep(folder: Path, duration: float, variants: int) -> Path:
    """The demo's sweep: :data:`DEMO_AXES` when the demo has those nodes, else seeds."""
    path = folder / "sweep.yaml"
    axes: dict[str, Any] = {"duration": [duration], **DEMO_AXES}
    path.write_text(yaml.safe_dump({"base": str(DEMO), "axes": axes}), encoding="utf-8")
    try:
        if variants == 64 and len(load_sweep(path).variants) == 64:
            return path
    except AersError:
        pass
    axes = {"duration": [duration], "seed": f"1..{variants}"}
    path.write_text(yaml.safe_dump({"base": str(DEMO), "axes": axes}), encoding="utf-8")
    return path


def write_sweep(folder: Path, duration: float, variants: int, scene: str) -> tuple[Path, str]:
    """The sweep file and the name of its scene (``demo`` or ``builtin``)."""
    if scene != "builtin" and DEMO.is_file():
        try:
            load_config(DEMO, overrides={"duration": duration})
        except AersError as err:
            if scene == "demo":
                raise SystemExit(f"examples/demo.yaml does not validate:\n{err}") from None
            print(f"examples/demo.yaml does not validate ({err}); using the built-in scene")
        else:
            return _demo_sweep(folder, duration, variants), "demo"
    (folder / "demo.yaml").write_text(yaml.safe_dump(SCENE), encoding="utf-8")
    seeds = max(1, variants // 4)
    sweep = {
        "base": "demo.yaml",
        "axes": {
            "duration": [duration],
            "nodes.hiss.params.seed": f"1..{seeds}",
            "nodes.eq1.params.bands.0.gain_db": [-3, 3],
            "nodes.dly.params.feedback": [0.2, 0.5],
        },
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path, "builtin"


def _warm() -> int:
    """Runs on each worker: import the renderer and load every kernel."""
    from aers_host import default_registry
    from aers_host.batch import _task

    _task._warm_once(default_registry(entry_points=False, store=False))
    return os.getpid()


def _cpu_seconds() -> float:
    """Runs on each worker: CPU time of the worker process and its children (sandboxes)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat: how loaded the machine was."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def measure(sweep_path: Path, workers: int, scratch: Path) -> dict[str, Any]:
    """Throughput of one batch on ``workers`` processes, in a fresh output folder."""
    sweep = load_sweep(sweep_path)
    out = scratch / f"out-{workers}"
    t_start = time.perf_counter()
    with local_client(workers) as client:
        t_ready = time.perf_counter()
        client.run(_warm)
        cpu_before = sum(client.run(_cpu_seconds).values())
        busy_before = _machine_busy()
        client_before = _cpu_seconds()  # this process: client, scheduler and nannies
        t_warm = time.perf_counter()
        report = run_sweep(sweep, out, client=client)
        t_done = time.perf_counter()
        busy_after = _machine_busy()
        client_s = _cpu_seconds() - client_before
        cpu_s = sum(client.run(_cpu_seconds).values()) - cpu_before
    t_end = time.perf_counter()
    shutil.rmtree(out)
    if report.counts["done"] != len(sweep.variants):
        raise SystemExit(f"batch failed: {report.counts} {report.rows[:2]}")
    batch_s = t_done - t_warm
    cpus = os.cpu_count() or 1
    busy = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]) * cpus
    return {
        "workers": workers,
        "variants": len(sweep.variants),
        "batch_s": batch_s,
        "throughput_variants_per_s": len(sweep.variants) / batch_s,
        "cluster_start_s": t_ready - t_start,
        "warm_s": t_warm - t_ready,
        "end_to_end_s": t_end - t_start,
        "render_wall_s_mean": sum(r["wall_seconds"] for r in report.rows) / len(report.rows),
        # CPU the workers got per worker-second: below ~0.9 means other processes took cores
        "worker_cpu_utilisation": cpu_s / (workers * batch_s),
        "client_scheduler_cores": client_s / batch_s,
        "machine_busy_cores": busy,
        "other_busy_cores": max(0.0, busy - (cpu_s + client_s) / batch_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per variant")
    parser.add_argument("--variants", type=int, default=64)
    parser.add_argument(
        "--scene",
        choices=("auto", "demo", "builtin"),
        default="auto",
        help="demo: examples/demo.yaml (needs its plugins installed in $AERS_HOME, see "
        "scripts/demo_plugins.sh); builtin: the demo-like graph of built-ins; auto: demo "
        "when it validates",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aers-bench-batch-") as tmp:
        scratch = Path(tmp)
        sweep_path, scene = write_sweep(scratch, args.duration, args.variants, args.scene)
        load_before = os.getloadavg()
        runs = [measure(sweep_path, n, scratch) for n in (1, 2)]
    one, two = runs
    speedup = two["throughput_variants_per_s"] / one["throughput_variants_per_s"]
    result = {
        "scene": SCENES[scene],
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "runs": runs,
        "speedup": speedup,
        "scaling_efficiency": speedup / 2,
    }
    path = RESULTS / "batch.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    scenes = previous.get("scenes", {}) if isinstance(previous, dict) else {}
    scenes[scene] = result  # keep the other scene's latest numbers beside these
    write_results("batch", {"scenes": scenes})
    cpus = os.cpu_count()
    print(f"{SCENES[scene]}: {one['variants']} variants × {args.duration:g} s, {cpus} CPUs")
    for run in runs:
        print(
            f"  {run['workers']} worker(s): {run['throughput_variants_per_s']:.2f} variants/s "
            f"({run['batch_s']:.1f} s batch, {run['end_to_end_s']:.1f} s end to end, "
            f"cluster start {run['cluster_start_s']:.2f} s); workers got "
            f"{run['worker_cpu_utilisation']:.0%} of their cores, client+scheduler "
            f"{run['client_scheduler_cores']:.2f} cores, other processes "
            f"{run['other_busy_cores']:.1f} cores"
        )
    print(f"  speedup {speedup:.2f}×, scaling efficiency {speedup / 2:.0%}")
    print(f"  load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print(f"→ {path} (scenes.{scene})")


if __name__ == "__main__":
    main()
