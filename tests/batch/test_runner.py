"""Batches on dask's threaded scheduler: outputs, summary, resume, failures, the lock."""

from __future__ import annotations

import csv
import fcntl
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sweep_fakes import BASE, WriteSweep

from aers_host.batch import BatchReport, load_sweep, run_sweep
from aers_host.batch import _task as task_module
from aers_host.errors import AersError


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count real renders (threads run in this process, so the patch reaches them)."""
    calls: list[str] = []
    real = task_module.render

    def counting(config: Any, registry: Any, **kwargs: Any) -> Any:
        calls.append(str(kwargs["out_dir"]))
        return real(config, registry, **kwargs)

    monkeypatch.setattr(task_module, "render", counting)
    return calls


def run(sweep: Path, out: Path, **kwargs: Any) -> BatchReport:
    return run_sweep(load_sweep(sweep), out, scheduler="threads", workers=2, **kwargs)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_variant_renders_with_metrics_and_summary(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    seen: list[dict[str, Any]] = []
    report = run(write_sweep(), out, on_result=seen.append)
    assert report.counts == {"done": 6, "skipped": 0, "failed": 0, "pending": 0}
    assert len(seen) == 6
    rows = read_csv(out / "summary.csv")
    assert list(rows[0]) == [
        "variant", "nodes.g.params.gain_db", "seed", "status", "peak_db", "lufs",
        "p99_block_us", "latency_samples", "xruns", "substituted_samples", "wall_seconds",
        "error",
    ]  # fmt: skip
    for row in rows:
        folder = out / row["variant"]
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "main.wav",
            "metrics.json",
        ]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["variant"]["id"] == row["variant"]
        gain = float(row["nodes.g.params.gain_db"])
        assert float(row["peak_db"]) == pytest.approx(-12 + gain, abs=0.01)
        assert row["lufs"] == ""  # 0.1 s is shorter than one 400 ms gating block
        assert float(row["p99_block_us"]) > 0 and row["latency_samples"] == "0"
        assert row["status"] == "done" and row["xruns"] == "0"
    with sqlite3.connect(out / "summary.sqlite") as db:
        count = db.execute("SELECT count(*) FROM variants WHERE status = 'done'").fetchone()
    assert count == (6,)
    assert not list(out.glob("*.partial-*"))


def test_lufs_is_measured_when_long_enough(write_sweep: WriteSweep, tmp_path: Path) -> None:
    sweep = write_sweep("base: base.yaml\naxes:\n  duration: [0.5]\n")
    report = run(sweep, tmp_path / "out")
    (row,) = report.rows
    assert row["lufs"] == pytest.approx(-12.68, abs=0.05)  # -12 dBFS sine, both channels


def test_rerun_skips_finished_and_renders_changed(
    write_sweep: WriteSweep, tmp_path: Path, renders: list[str]
) -> None:
    out = tmp_path / "out"
    run(write_sweep(), out)
    assert len(renders) == 6
    again = run(write_sweep(), out)
    assert len(renders) == 6
    assert again.counts["skipped"] == 6
    assert {r["peak_db"] for r in again.rows} == {
        r["peak_db"] for r in run(write_sweep(), out).rows
    }
    changed = write_sweep(
        'base: base.yaml\naxes:\n  seed: "1..3"\n  nodes.g.params.gain_db: [-6, -1]\n'
    )
    report = run(changed, out)
    assert len(renders) == 9  # only the three gain_db=-1 variants are new
    assert report.counts == {"done": 3, "skipped": 3, "failed": 0, "pending": 0}


def test_resume_after_interruption_renders_only_the_rest(
    write_sweep: WriteSweep, tmp_path: Path, renders: list[str]
) -> None:
    out = tmp_path / "out"

    def interrupt_after_two(row: dict[str, Any]) -> None:
        if len(renders) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            load_sweep(write_sweep()), out, scheduler="threads", workers=1,
            on_result=interrupt_after_two,
        )  # fmt: skip
    # one worker: the threaded scheduler fires nothing between a result and its callback
    statuses = [r["status"] for r in read_csv(out / "summary.csv")]
    assert statuses.count("done") == 2 and statuses.count("pending") == 4
    report = run(write_sweep(), out)
    assert report.counts == {"done": 4, "skipped": 2, "failed": 0, "pending": 0}
    assert len(renders) == 6


def test_failing_variant_is_recorded_and_others_complete(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    import numpy as np
    import soundfile as sf

    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(tmp_path / name, np.full((4800, 2), 0.25, np.float32), 48000)  # BASE is stereo
    base = BASE.replace(
        "{type: sine, params: {freq: 440, level_db: -12}}", "{type: file, params: {path: a.wav}}"
    )
    sweep = load_sweep(
        write_sweep(
            "base: base.yaml\naxes:\n  nodes.tone.params.path: [a.wav, b.wav, c.wav]\n", base
        )
    )
    (tmp_path / "b.wav").unlink()  # gone between validation and render, as on a shared disk
    report = run_sweep(sweep, tmp_path / "out", scheduler="threads", workers=2)
    assert report.counts == {"done": 2, "skipped": 0, "failed": 1, "pending": 0}
    failed = next(r for r in report.rows if r["status"] == "failed")
    assert failed["nodes.tone.params.path"] == "b.wav"
    assert failed["error"].startswith("ConfigError: ") and "b.wav" in failed["error"]
    assert not (tmp_path / "out" / failed["variant"]).exists()
    csv_row = next(r for r in read_csv(tmp_path / "out" / "summary.csv") if r["status"] == "failed")
    assert csv_row["error"] == failed["error"]
    assert not list((tmp_path / "out").glob("*.partial-*"))


def test_stale_partial_folders_are_removed(write_sweep: WriteSweep, tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep())
    out = tmp_path / "out"
    stale = out / f"{sweep.variants[0].id}.partial-deadbeef"
    stale.mkdir(parents=True)
    (stale / "main.wav").write_bytes(b"half")
    foreign = out / "keep.partial-x"
    foreign.mkdir()
    run_sweep(sweep, out, scheduler="threads")
    assert not stale.exists() and foreign.exists()


def test_a_second_batch_into_the_same_folder_is_refused(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with (out / ".aers-batch.lock").open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(AersError, match="another batch is running"):
            run(write_sweep(), out)


def test_unknown_scheduler_is_refused(write_sweep: WriteSweep, tmp_path: Path) -> None:
    with pytest.raises(AersError, match="unknown scheduler 'thread'"):
        run_sweep(load_sweep(write_sweep()), tmp_path / "out", scheduler="thread")


def test_scene_file_axis_renders_each_scene(write_sweep: WriteSweep, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    for name, at in (("early", 100), ("late", 3000)):
        event = {"id": "hit", "category": "sfx", "at": at, "source": {"generator": "impulse"}}
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(event) + "\n")
    base = """
        duration: 0.1
        nodes:
          ev: {type: events, params: {channels: 1}}
          main: {type: output, params: {path: main.wav}}
        connections:
          - {from: ev, to: main}
    """
    sweep = write_sweep("base: base.yaml\naxes:\n  scene: [early.jsonl, late.jsonl]\n", base)
    report = run(sweep, tmp_path / "out")
    assert report.counts["done"] == 2, report.rows
    for row in report.rows:
        audio, _ = sf.read(tmp_path / "out" / row["variant"] / "main.wav")
        expected = 100 if row["scene"] == "early.jsonl" else 3000
        assert int(np.argmax(np.abs(audio))) == expected
