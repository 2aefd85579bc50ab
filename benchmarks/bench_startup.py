"""Start-up of the ``aers`` command as whole processes, against ``import pedalboard``.

Times, as separate processes each round (rounds interleave the commands, so machine load
spreads evenly): ``aers --help``, ``aers --version``, ``aers validate`` and ``aers graph``
of ``examples/demo.yaml`` with the demo plugins installed, ``python -c "import
pedalboard"`` (the reference: what an audio engineer's Python tool costs to start) and
``python -c pass`` (the interpreter floor). For each: median wall time, median CPU time
(user + system, from ``wait4``: what load on a shared machine cannot inflate) and peak RSS.

Targets (issue 17, item 2): ``--help`` ≤ 0.25 s, ``--version`` ≤ 0.2 s, ``validate`` ≤ 0.6 s
and ≤ 100 MiB, ``graph`` ≤ 0.6 s (median of 5). A target counts as met when the median
wall time is within it; on a loaded machine the CPU time is the fairer figure (a missed
wall target says whether the CPU time is within it), and both are printed and stored.

The demo plugins (a sandboxed Python tremolo, two signed native effects) are signed and
installed into a scratch ``$AERS_HOME`` by ``scripts/demo_plugins.sh`` (needs ``g++``),
unless ``--home DIR`` names a home where they already are.

``--baseline DIR`` also times the ``aers`` commands from another checkout (say, main
before this change) in the same rounds, so before/after compare on the same machine load.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--home DIR] [--baseline DIR]``
Writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
DEMO = "examples/demo.yaml"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    wall_target_s: float | None = None
    rss_target_mib: float | None = None
    #: Import ``aers_host`` from this folder (default: this checkout).
    pythonpath: str = str(ROOT)


def aers_argv() -> list[str]:
    """The console script beside this interpreter (what users run), else ``-m aers_host``."""
    script = Path(sys.executable).with_name("aers")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aers_host"]


def cases(baseline: Path | None) -> list[Case]:
    aers = aers_argv()
    todo = [
        Case("python -c pass", [sys.executable, "-c", "pass"]),
        Case('python -c "import pedalboard"', [sys.executable, "-c", "import pedalboard"]),
        Case("aers --help", [*aers, "--help"], wall_target_s=0.25),
        Case("aers --version", [*aers, "--version"], wall_target_s=0.2),
        Case(f"aers validate {DEMO}", [*aers, "validate", DEMO], 0.6, rss_target_mib=100),
        Case(f"aers graph {DEMO}", [*aers, "graph", DEMO], wall_target_s=0.6),
    ]
    if baseline is not None:  # the same commands from another checkout, in the same rounds
        todo += [
            Case(f"{c.name} [baseline]", c.argv, pythonpath=str(baseline))
            for c in todo
            if c.name.startswith("aers ") and c.name != "aers --version"  # new in this change
        ]
    return todo


def run_once(case: Case, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one process; raises if it fails."""
    argv = case.argv
    env = {**env, "PYTHONPATH": case.pythonpath}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB on Linux


def install_demo_plugins(env: dict[str, str]) -> None:
    if shutil.which("g++") is None:
        raise SystemExit("the demo's native plugins need g++; or pass --home with them installed")
    subprocess.run(
        [str(ROOT / "scripts" / "demo_plugins.sh")],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--home", type=Path, help="an AERS_HOME with the demo plugins installed")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git archive main | tar -x -C DIR`) timed in the same rounds",
    )
    args = parser.parse_args()

    env = dict(os.environ)
    # An installed package has its bytecode compiled (pip does it at install); without it
    # every run would re-compile the modules it imports. The warm-up round writes it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    scratch = None
    if args.home is None:
        scratch = tempfile.TemporaryDirectory(prefix="aers-bench-home-")
        env["AERS_HOME"] = scratch.name
        install_demo_plugins(env)
    else:
        env["AERS_HOME"] = str(args.home)
    try:
        todo = cases(args.baseline)
        samples: dict[str, list[tuple[float, float, float]]] = {c.name: [] for c in todo}
        for case in todo:  # warm the page cache and write bytecode once, untimed
            run_once(case, env)
        for _ in range(args.repeats):
            for case in todo:
                samples[case.name].append(run_once(case, env))
    finally:
        if scratch is not None:
            scratch.cleanup()

    reference = statistics.median(w for w, _, _ in samples['python -c "import pedalboard"'])
    reference_cpu = statistics.median(c for _, c, _ in samples['python -c "import pedalboard"'])
    rows: list[dict[str, Any]] = []
    header = f"{'command':<45} {'wall s':>7} {'cpu s':>7} {'MiB':>6} {'×pb wall':>9} {'×pb cpu':>8}"
    print(header + "  target")
    for case in todo:
        wall = statistics.median(w for w, _, _ in samples[case.name])
        cpu = statistics.median(c for _, c, _ in samples[case.name])
        rss = max(r for _, _, r in samples[case.name])
        verdicts = []
        if case.wall_target_s is not None:
            ok = wall <= case.wall_target_s
            cpu_ok = cpu <= case.wall_target_s  # what the wall time would be on an idle machine
            verdicts.append(
                f"≤{case.wall_target_s} s {'met' if ok else 'MISSED'}"
                + ("" if ok else f" (CPU {'within' if cpu_ok else 'over'} it)")
            )
        if case.rss_target_mib is not None:
            ok = rss <= case.rss_target_mib
            verdicts.append(f"≤{case.rss_target_mib} MiB {'met' if ok else 'MISSED'}")
        print(
            f"{case.name:<45} {wall:7.3f} {cpu:7.3f} {rss:6.1f} {wall / reference:9.2f}"
            f" {cpu / reference_cpu:8.2f}  {', '.join(verdicts)}"
        )
        rows.append(
            {
                "command": case.name,
                "wall_median_s": wall,
                "cpu_median_s": cpu,
                "peak_rss_mib": rss,
                "wall_vs_pedalboard_import": wall / reference,
                "cpu_vs_pedalboard_import": cpu / reference_cpu,
                "wall_target_s": case.wall_target_s,
                "rss_target_mib": case.rss_target_mib,
                "wall_samples_s": [w for w, _, _ in samples[case.name]],
                "cpu_samples_s": [c for _, c, _ in samples[case.name]],
            }
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    write_results("startup", {"repeats": args.repeats, "loadavg": load, "rows": rows})


if __name__ == "__main__":
    main()
