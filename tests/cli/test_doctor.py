"""``aers doctor``: what the machine offers, as a table or JSON, and the JIT warm-up."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aers_host._denormals import flush_supported


def test_doctor_json_reports_paths_fences_and_denormal_mode(
    aers_home: Path, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("doctor", "--json", "--warm")
    assert result.code == 0, result.err
    checks = json.loads(result.out)
    assert checks["plugin store"].startswith(str(aers_home))
    assert checks["keyring dir"].startswith(str(aers_home))
    assert any(name.startswith("sandbox ") for name in checks)
    assert checks["kernel warm-up"].endswith(" s")
    assert ("FTZ/DAZ" in checks["denormals"]) == flush_supported()


def test_doctor_table_and_quiet(aers_home: Path, run_cli: Callable[..., Any]) -> None:
    table = run_cli("doctor")
    assert table.code == 0 and "aers doctor" in table.out and "denormals" in table.out
    quiet = run_cli("doctor", "--warm", "--quiet")
    assert quiet.code == 0 and quiet.out == ""
