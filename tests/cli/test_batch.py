"""``aers batch`` as a user runs it (threaded scheduler: no cluster start-up in the suite)."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aers_host.errors import GraphError

BASE = """
    block_size: 256
    duration: 0.05
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      g: {type: gain, params: {gain_db: 0}}
      main: {type: output, params: {path: main.wav}}
    connections:
      - {from: tone, to: g}
      - {from: g, to: main}
"""


def write(tmp_path: Path, sweep: str) -> Path:
    (tmp_path / "base.yaml").write_text(textwrap.dedent(BASE).lstrip(), encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(sweep).lstrip(), encoding="utf-8")
    return path


SWEEP = """
    base: base.yaml
    axes:
      nodes.g.params.gain_db: [-6, 0]
      seed: "1..2"
"""


def test_batch_renders_then_skips(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    sweep, out = write(tmp_path, SWEEP), tmp_path / "out"
    result = run_cli("batch", sweep, "--out-dir", out, "--scheduler", "threads", "--workers", "2")
    assert result.code == 0, result.err
    assert "4 variants (product of 2 axes" in result.err
    assert "rendering 4 variants on threads (0 already finished)" in result.err
    assert "│    4 │       0 │      0 │     4 │" in result.out
    assert f"summary → {out.resolve() / 'summary.csv'}" in result.out
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["done"] * 4
    again = run_cli("batch", sweep, "--out-dir", out, "--scheduler", "threads", "--json")
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert report["counts"] == {"done": 0, "skipped": 4, "failed": 0, "pending": 0}
    assert {r["variant"] for r in report["rows"]} == {r["variant"] for r in rows}


def test_dry_run_lists_variants_and_renders_nothing(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "out", "--dry-run",
                     "--json")  # fmt: skip
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [(r["nodes.g.params.gain_db"], r["seed"]) for r in rows] == [
        (-6, 1), (-6, 2), (0, 1), (0, 2)
    ]  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_invalid_sweep_prints_every_problem_and_exits_1(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    sweep = write(
        tmp_path,
        """
        base: base.yaml
        axes:
          nodes.gg.params.gain_db: [-6]
          block_size: [16]
        """,
    )
    result = run_cli("batch", sweep, "--out-dir", tmp_path / "out", "--scheduler", "threads")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: {sweep}:3: axes.nodes.gg.params.gain_db: no node 'gg' in the base config "
        "(did you mean 'g'?)"
    ]
    assert not (tmp_path / "out").exists()


def test_failed_variant_exits_1_after_finishing_the_rest(
    tmp_path: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from aers_host.batch import _task

    real = _task.render

    def render(config: Any, registry: Any, **kwargs: Any) -> Any:
        # the CLI's handling of a failed row; how real failures arise is in tests/batch
        if config.data["nodes"]["g"]["params"]["gain_db"] == -6:
            raise GraphError("the graph fell over")
        return real(config, registry, **kwargs)

    monkeypatch.setattr(_task, "render", render)
    result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "out",
                     "--scheduler", "threads")  # fmt: skip
    assert result.code == 1
    assert "│    2 │       0 │      2 │     4 │" in result.out
    failed = [line for line in result.out.splitlines() if line.startswith("failed ")]
    assert len(failed) == 2
    assert all(line.endswith(": GraphError: the graph fell over") for line in failed)


def test_unknown_scheduler_is_a_user_error(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "o", "--scheduler", "x"
    )
    assert result.code == 1
    assert result.err.startswith("error: unknown scheduler 'x'")
