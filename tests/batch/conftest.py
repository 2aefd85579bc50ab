"""Fixtures of the batch tests; the config and sweep texts live in sweep_fakes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_fakes import BASE, SWEEP, WriteSweep, dedent


@pytest.fixture
def write_sweep(tmp_path: Path) -> WriteSweep:
    """Write ``base.yaml`` and ``sweep.yaml`` (YAML texts, dedented) and return the sweep."""

    def write(sweep: str = SWEEP, base: str = BASE) -> Path:
        (tmp_path / "base.yaml").write_text(dedent(base), encoding="utf-8")
        path = tmp_path / "sweep.yaml"
        path.write_text(dedent(sweep), encoding="utf-8")
        return path

    return write
