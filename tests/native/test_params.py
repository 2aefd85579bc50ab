"""The compiled descriptor is the one source of truth for a native plugin's params.

Issue 21, item 1: `aers plugin build` writes the descriptor's params into manifest.in.json,
and `aers plugin sign` refuses a manifest the library contradicts, naming both sides.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to build the plugin"),
]


def _params(folder: Path) -> dict[str, dict[str, Any]]:
    source = json.loads((folder / "manifest.in.json").read_text())
    return {p["name"]: p for p in source["params"]}


def _edit(folder: Path, **changes: Any) -> None:
    path = folder / "manifest.in.json"
    source = json.loads(path.read_text())
    source["params"][0].update(changes)
    path.write_text(json.dumps(source, indent=2))


@pytest.fixture
def built(tmp_path: Path, aers_home: Path, run_cli: Any) -> Path:
    assert run_cli("plugin", "new", "nat", "--kind", "native", "--dir", tmp_path).code == 0
    folder = tmp_path / "nat"
    _edit(folder, max=6.0, doc="output level")  # out of step with the C++ descriptor
    result = run_cli("plugin", "build", folder)
    assert result.code == 0, result.err
    assert "updated the params" in result.err and "'gain_db'" in result.err
    return folder


def test_build_writes_the_descriptor_params_keeping_extra_keys(built: Path) -> None:
    # The scaffold's C++ says {"gain_db", "dB", -60.0, 12.0, 0.0} (aers_param_info_t order).
    assert _params(built) == {
        "gain_db": {"name": "gain_db", "default": 0.0, "min": -60.0, "max": 12.0, "unit": "dB",
                    "doc": "output level"},
    }  # fmt: skip


def test_build_again_changes_nothing(built: Path, run_cli: Any) -> None:
    before = (built / "manifest.in.json").read_bytes()
    result = run_cli("plugin", "build", built)
    assert result.code == 0 and "updated the params" not in result.err
    assert (built / "manifest.in.json").read_bytes() == before


@pytest.mark.security
def test_sign_refuses_params_the_library_contradicts(
    built: Path, aers_home: Path, run_cli: Any
) -> None:
    run_cli("keys", "generate", "nat")
    run_cli("keys", "trust", aers_home / "keys" / "nat.pub.pem", "--scope", "native")
    key = aers_home / "keys" / "nat.key.pem"
    _edit(built, max=24.0)
    result = run_cli("plugin", "sign", built, "--key", key)
    assert result.code == 1
    assert (
        "'gain_db': manifest.in.json says min -60, max 24, default 0, unit 'dB'; "
        "the descriptor says min -60, max 12, default 0, unit 'dB'"
    ) in result.err
    assert "aers plugin build" in result.err
    assert not (built / "manifest.json").exists()
    _edit(built, name="volume", max=12.0)
    result = run_cli("plugin", "sign", built, "--key", key)
    assert result.code == 1
    assert "'volume': manifest.in.json declares it, the descriptor does not" in result.err
    _edit(built, name="gain_db")
    assert run_cli("plugin", "sign", built, "--key", key).code == 0
