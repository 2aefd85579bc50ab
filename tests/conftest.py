"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    """Exit code and captured streams of one ``aers`` invocation."""

    code: int
    out: str
    err: str


@pytest.fixture
def aers_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private $AERS_HOME (keyring, plugin store, sessions) for one test."""
    home = tmp_path / "aers-home"
    home.mkdir()
    monkeypatch.setenv("AERS_HOME", str(home))
    return home


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    """Run the real ``aers`` entry point (with its error funnel) in-process."""
    from aers_host.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["aers", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
