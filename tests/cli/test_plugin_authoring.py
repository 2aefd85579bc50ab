"""A plugin author is told early: sign, verify, install and `plugin test` (issue 21, item 1).

Code the sandbox would refuse is refused at every step with every problem listed, nothing
signed or installed; `aers plugin test` runs the plugin's own tests through the sandbox's
loader; a rollback refusal names the flag that goes back on purpose.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aers_host.plugins._keys import load_private_key
from aers_host.plugins._manifest import prepare_signed, seal

BAD_LINES = ("import math\n", "import math\nimport os\n")
BAD_ATTR = ("self.sample_rate = sample_rate", "self._rate = sample_rate")


@pytest.fixture
def author(aers_home: Path, run_cli: Any) -> Path:
    """A trusted signing key (python scope); returns the private key path."""
    run_cli("keys", "generate", "author")
    run_cli("keys", "trust", aers_home / "keys" / "author.pub.pem", "--scope", "python")
    return aers_home / "keys" / "author.key.pem"


def _new(tmp_path: Path, run_cli: Any, name: str = "fx") -> Path:
    assert run_cli("plugin", "new", name, "--dir", tmp_path).code == 0
    return tmp_path / name


def _break(folder: Path) -> None:
    path = folder / "fx.py"
    path.write_text(path.read_text().replace(*BAD_LINES).replace(*BAD_ATTR))


def _sign_without_checks(folder: Path, key: Path) -> None:
    """A signed manifest for code `aers plugin sign` would refuse (an older AERS signed it)."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "manifest.json"}
    signed = prepare_signed(files["manifest.in.json"], files, now=datetime.now(UTC), days=30)
    private = load_private_key(key.read_bytes(), None, source=str(key))
    (folder / "manifest.json").write_bytes(seal(signed, private))


def _problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: plugin 'fx': fx.py:")]


@pytest.mark.security
def test_sign_lists_every_sandbox_refusal_and_writes_nothing(
    tmp_path: Path, author: Path, run_cli: Any
) -> None:
    folder = _new(tmp_path, run_cli)
    _break(folder)
    result = run_cli("plugin", "sign", folder, "--key", author)
    assert result.code == 1 and "Traceback" not in result.err
    lines = _problem_lines(result.err)
    assert len(lines) == 2
    line = (folder / "fx.py").read_text().splitlines().index("import os") + 1
    assert lines[0].startswith(f"error: plugin 'fx': fx.py:{line}: import os: ")
    assert "fx.py:" in lines[1] and "_rate:" in lines[1] and "leading underscore" in lines[1]
    assert not (folder / "manifest.json").exists()


@pytest.mark.security
def test_verify_and_install_refuse_signed_code_the_sandbox_refuses(
    tmp_path: Path, author: Path, aers_home: Path, run_cli: Any
) -> None:
    folder = _new(tmp_path, run_cli)
    _break(folder)
    _sign_without_checks(folder, author)
    verified = run_cli("plugin", "verify", folder)
    assert verified.code == 1 and len(_problem_lines(verified.err)) == 2
    installed = run_cli("plugin", "install", folder)
    assert installed.code == 1 and len(_problem_lines(installed.err)) == 2
    store = aers_home / "plugins"
    assert not store.exists() or sorted(p.name for p in store.iterdir()) in ([], [".lock"])


def test_plugin_test_runs_the_scaffolds_own_test(tmp_path: Path, run_cli: Any) -> None:
    folder = _new(tmp_path, run_cli)
    result = run_cli("plugin", "test", folder)
    assert result.code == 0, result.err
    assert sorted(p.name for p in folder.iterdir()) == [
        "fx.py",
        "manifest.in.json",
        "test_fx.py",
    ]  # fmt: skip  (no __pycache__ or .pytest_cache left to sign)


def test_plugin_test_fails_when_the_plugin_is_wrong(tmp_path: Path, run_cli: Any) -> None:
    folder = _new(tmp_path, run_cli)
    path = folder / "fx.py"
    path.write_text(path.read_text().replace("/ 20.0", "/ 10.0"))  # a wrong dB formula
    result = run_cli("plugin", "test", folder)
    assert result.code == 1 and "tests did not pass" in result.err


def test_plugin_test_lists_sandbox_refusals_before_running(tmp_path: Path, run_cli: Any) -> None:
    folder = _new(tmp_path, run_cli)
    _break(folder)
    result = run_cli("plugin", "test", folder)
    assert result.code == 1 and len(_problem_lines(result.err)) == 2
    assert "tests did not pass" not in result.err


def test_plugin_test_needs_a_test_file(tmp_path: Path, run_cli: Any) -> None:
    folder = _new(tmp_path, run_cli)
    (folder / "test_fx.py").unlink()
    result = run_cli("plugin", "test", folder)
    assert result.code == 1 and "no test_*.py" in result.err


def test_rollback_refusal_names_the_way_on(tmp_path: Path, author: Path, run_cli: Any) -> None:
    folder = _new(tmp_path, run_cli)
    source = json.loads((folder / "manifest.in.json").read_text())
    source["version"] = "0.1.1"
    (folder / "manifest.in.json").write_text(json.dumps(source))
    assert run_cli("plugin", "sign", folder, "--key", author).code == 0
    assert run_cli("plugin", "install", folder).code == 0
    source["version"] = "0.1.0"
    (folder / "manifest.in.json").write_text(json.dumps(source))
    assert run_cli("plugin", "sign", folder, "--key", author).code == 0
    result = run_cli("plugin", "install", folder)
    assert result.code == 1
    assert "older than installed 0.1.1" in result.err
    assert "aers plugin install --allow-downgrade" in result.err  # the way on, named
