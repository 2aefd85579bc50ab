"""Batches on a real LocalCluster: two worker processes, one killed mid-batch (the
batch reaching that cluster by its address, as ``--scheduler tcp://…`` does)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sweep_fakes import WriteSweep, heavy_base

from aers_host.batch import load_sweep, local_client, run_sweep

pytestmark = pytest.mark.slow


def test_local_cluster_of_two_workers_renders_everything(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    environ = dict(os.environ)
    starts: list[Any] = []
    report = run_sweep(
        load_sweep(write_sweep()), tmp_path / "out", workers=2, on_start=starts.append
    )
    assert report.counts == {"done": 6, "skipped": 0, "failed": 0, "pending": 0}
    assert starts[0].scheduler == "local" and starts[0].to_run == 6
    assert dict(os.environ) == environ  # the nanny's pre-spawn variables do not leak


def test_killing_a_worker_mid_batch_loses_nothing(write_sweep: WriteSweep, tmp_path: Path) -> None:
    sweep = load_sweep(
        write_sweep('base: base.yaml\naxes:\n  nodes.n.params.seed: "1..8"\n', heavy_base())
    )
    killed: list[tuple[str, int]] = []
    starts: list[Any] = []
    out = tmp_path / "out"
    with local_client(2) as client:
        pids: dict[str, int] = client.run(os.getpid)
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(trim.values()) == {None}  # cleared: it slowed NumPy renders ~40 %

        def kill_a_busy_worker(row: dict[str, Any]) -> None:
            if killed:
                return
            busy = [addr for addr, keys in client.processing().items() if keys]
            assert busy, "no task in flight after the first result: renders are too short"
            killed.append((busy[0], len(client.processing()[busy[0]])))
            os.kill(pids[busy[0]], signal.SIGKILL)

        address = client.scheduler.address  # the path of `--scheduler tcp://HOST:PORT`
        report = run_sweep(
            sweep, out, scheduler=address, on_start=starts.append, on_result=kill_a_busy_worker
        )
        assert set(client.run(os.getpid).values()) != set(pids.values())  # nanny restarted it
    assert starts[0].scheduler == address and address.startswith("tcp://")
    assert killed and killed[0][1] >= 1
    assert report.counts == {"done": 8, "skipped": 0, "failed": 0, "pending": 0}
    assert all((out / r["variant"] / "metrics.json").is_file() for r in report.rows)
    assert not list(out.glob("*.partial-*"))
