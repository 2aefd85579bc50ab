"""CLI conventions users expect: --version, python -m, completion, flag help, --json, 80 columns."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from aers_host.cli import app
from aers_host.cli._commands import COMMANDS, load_all

AERS = str(Path(sys.executable).with_name("aers"))


def all_commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and sub-command path (``["plugin", "list"]``) with its click command."""
    load_all()
    root = typer.main.get_command(app)

    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk([*path, name], sub)

    yield from walk([], root)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, run_cli: Callable[..., Any]) -> None:
    result = run_cli(flag)
    assert result.code == 0
    assert result.out == f"aers {importlib.metadata.version('aers-host')}\n"


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aers_host", "--version"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("aers ")


def test_shell_completion_is_installable_and_completes_lazily_listed_commands(
    tmp_path: Path,
) -> None:
    # As a user types it in bash: typer detects the shell from the parent process (bash must
    # stay the parent, so it runs the command rather than exec'ing into it).
    shown = subprocess.run(["bash", "-c", '"$0" --show-completion; exit $?', AERS],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert shown.returncode == 0 and "_AERS_COMPLETE=complete_bash" in shown.stdout
    env = {**os.environ, "_AERS_COMPLETE": "complete_bash", "COMP_WORDS": "aers render --st",
           "COMP_CWORD": "2"}  # fmt: skip
    done = subprocess.run([AERS], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)  # fmt: skip
    assert done.stdout.split() == ["--stems", "--stems-residual", "--stems-pre"]
    env.update(COMP_WORDS="aers ses", COMP_CWORD="1")
    done = subprocess.run([AERS], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)  # fmt: skip
    assert done.stdout.split() == ["session"]


def test_the_command_table_lists_every_command_with_its_own_summary() -> None:
    registered = {path[0]: cmd for path, cmd in all_commands() if len(path) == 1}
    assert set(COMMANDS) == set(registered)
    for name, entry in COMMANDS.items():
        assert entry.summary == registered[name].get_short_help_str(limit=500), name


def test_no_flag_shows_a_value_type_in_any_help(run_cli: Callable[..., Any]) -> None:
    paths = [path for path, _ in all_commands()]
    assert len(paths) > 25
    for path in paths:
        result = run_cli(*path, "--help")
        assert result.code == 0, (path, result.err)
        assert "<bool>" not in result.out, path
    render = run_cli("render", "--help").out
    assert re.search(r"--stems\s+Also write", render)  # the flag, then straight its help


def test_typo_suggests_the_command(run_cli: Callable[..., Any]) -> None:
    result = run_cli("valdate", "x.yaml")
    assert result.code == 2
    assert "Did you mean 'validate'?" in result.err


def test_plugin_list_at_80_columns_folds_instead_of_cutting(
    tmp_path: Path, aers_home: Path, run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aers_host.cli._app import out_console

    run_cli("keys", "generate", "author")
    run_cli("keys", "trust", aers_home / "keys" / "author.pub.pem", "--scope", "python")
    assert run_cli("plugin", "new", "fx", "--dir", tmp_path).code == 0
    assert run_cli("plugin", "sign", tmp_path / "fx", "--key",
                   aers_home / "keys" / "author.key.pem").code == 0  # fmt: skip
    assert run_cli("plugin", "install", tmp_path / "fx").code == 0
    [row] = [r for r in json.loads(run_cli("plugin", "list", "--json").out) if r["name"] == "fx"]
    monkeypatch.setattr(out_console, "width", 80)
    listed = run_cli("plugin", "list", "--verbose").out
    assert "…" not in listed
    assert all(len(line) <= 80 for line in listed.splitlines())
    key_cells = [line.split("│")[5].strip() for line in listed.splitlines()
                 if line.count("│") == 8]  # fmt: skip
    assert row["keyid"] in "".join(key_cells)  # the full 64-digit key id, folded


def test_every_table_has_a_json_twin(run_cli: Callable[..., Any], aers_home: Path) -> None:
    """Commands that print a table or a listing also offer --json (checked on their help)."""
    listing = [["graph"], ["run"], ["batch"], ["doctor"], ["plugin", "list"], ["keys", "list"],
               ["session", "list"], ["events", "generators"]]  # fmt: skip
    for path in listing:
        assert "--json" in run_cli(*path, "--help").out, path
    generators = json.loads(run_cli("events", "generators", "--json").out)
    from aers_host.events import BUILTIN_GENERATORS

    assert [g["name"] for g in generators] == list(BUILTIN_GENERATORS)
    footsteps = generators[0]["params"]
    assert {"default", "min", "max", "unit"} <= set(next(iter(footsteps.values())))


def test_a_command_missing_from_the_table_still_runs(
    run_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def probe() -> None:
        print("probe ran")

    monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))
    app.command("zz-probe")(probe)  # registered by some module the table does not name
    result = run_cli("zz-probe")
    assert result.code == 0 and result.out == "probe ran\n"
