"""Writing a config into a test's folder and collecting the problems it loads with."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aers_host import load_config
from aers_host.errors import ConfigError, Problem


def write(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    """``text`` (dedented) as ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    """The problems ``load_config`` refuses ``path`` with (it must refuse it)."""
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems
