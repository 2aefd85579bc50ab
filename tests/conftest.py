"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from config_helpers import write
from graphs import LoadGraph, Registry, builtin_registry

if TYPE_CHECKING:
    from aers_host.config import GraphConfig


@dataclass
class CliResult:
    """Exit code and captured streams of one ``aers`` invocation."""

    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The built-in node types, read-only, for the whole session (see ``graphs.py``)."""
    return builtin_registry()


@pytest.fixture
def load_graph(tmp_path: Path, registry: Registry) -> LoadGraph:
    """Write a config text into the test's folder and load it with the built-in node types.

    Call it as ``load_graph(text, name="graph.yaml", **overrides)``; the text is dedented,
    and relative paths in it resolve against ``tmp_path``.
    """
    from aers_host.config import load_config

    def load(text: str, name: str = "graph.yaml", **overrides: object) -> GraphConfig:
        return load_config(write(tmp_path, text, name), registry=registry, overrides=overrides)

    return load


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


@pytest.fixture
def install_plugin(
    tmp_path: Path, aers_home: Path, run_cli: Callable[..., CliResult]
) -> Callable[..., Path]:
    """Install a signed Python plugin as its author would, through ``aers``; see ``install``.

    The signing key ``author`` is generated at the first call of a test and trusted for
    ``python`` in the test's private ``$AERS_HOME``.
    """

    def install(name: str, source: str | None = None) -> Path:
        """Scaffold ``name`` (its code replaced by ``source``, if given), sign, install it.

        Returns:
            The plugin's folder in the store.
        """
        keys = aers_home / "keys"
        if not (keys / "author.key.pem").exists():
            assert run_cli("keys", "generate", "author").code == 0
            trusted = run_cli("keys", "trust", keys / "author.pub.pem", "--scope", "python")
            assert trusted.code == 0, trusted.err
        folder = tmp_path / "src" / name
        assert run_cli("plugin", "new", name, "--dir", folder.parent).code == 0
        if source is not None:
            (folder / f"{name}.py").write_text(source)
            (folder / f"test_{name}.py").unlink()  # the scaffold's test of the code replaced
        for step in (
            ("plugin", "sign", folder, "--key", keys / "author.key.pem"),
            ("plugin", "install", folder),
        ):
            result = run_cli(*step)
            assert result.code == 0, result.err
        return aers_home / "plugins" / name

    return install
