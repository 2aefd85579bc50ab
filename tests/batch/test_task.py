"""The worker task: it re-verifies plugins itself and publishes a variant atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sweep_fakes import BASE, WriteSweep

from aers_host.batch import is_finished, load_sweep, render_variant, run_sweep
from aers_host.batch._sweep import canonical_json
from aers_host.batch._task import describe_error
from aers_host.errors import ConfigError, Problem

PLUGIN_BASE = BASE.replace("g: {type: gain, params: {gain_db: 0}}", "g: {type: fx}")


@pytest.fixture
def installed_fx(install_plugin: Callable[..., Path]) -> Path:
    """A signed python plugin ``fx``, trusted and installed in a private store."""
    return install_plugin("fx")


@pytest.mark.security
def test_worker_reverifies_plugins_instead_of_trusting_the_client(
    installed_fx: Path, write_sweep: WriteSweep, tmp_path: Path
) -> None:
    sweep = load_sweep(write_sweep("base: base.yaml\naxes:\n  seed: [1, 2]\n", PLUGIN_BASE))
    good = run_sweep(sweep, tmp_path / "good", scheduler="threads")
    assert good.counts["done"] == 2, [r["error"] for r in good.rows]
    source = next(installed_fx.rglob("fx.py"))
    source.write_text(source.read_text() + "# swapped after the client verified it\n")
    report = run_sweep(sweep, tmp_path / "out", scheduler="threads")
    assert report.counts == {"done": 0, "skipped": 0, "failed": 2, "pending": 0}
    for row in report.rows:
        assert row["error"].startswith("ConfigError: ") and "fx.py" in row["error"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.is_dir()]


def test_task_publishes_only_complete_variants(write_sweep: WriteSweep, tmp_path: Path) -> None:
    variant = load_sweep(write_sweep()).variants[0]
    out = tmp_path / "out"
    base = str(tmp_path / "base.yaml")
    row = render_variant(variant.id, canonical_json(variant.data), base, str(out))
    assert row["status"] == "done" and is_finished(out, variant.id)
    saved = json.loads((out / variant.id / "config.json").read_text())
    assert saved == variant.data
    again = render_variant(variant.id, canonical_json(variant.data), base, str(out))
    assert again["status"] == "done"  # a retried task keeps the first published copy …
    assert again["wall_seconds"] == row["wall_seconds"]  # … and reports that copy's metrics
    assert sorted(p.name for p in out.iterdir()) == [variant.id]


def test_task_turns_every_failure_into_a_row(tmp_path: Path) -> None:
    row = render_variant("abc", "{not json", str(tmp_path / "base.yaml"), str(tmp_path))
    assert row == {"variant": "abc", "status": "failed", "error": row["error"]}
    assert row["error"].startswith("JSONDecodeError: ")
    assert row["error"].endswith(" in raw_decode)")  # a bug's innermost frame, for the row
    problems = [Problem("a.yaml", 3, "seed", "bad"), Problem("a.yaml", 4, "x", "worse")]
    assert describe_error(ConfigError(problems)) == (
        "ConfigError: a.yaml:3: seed: bad; a.yaml:4: x: worse"
    )
