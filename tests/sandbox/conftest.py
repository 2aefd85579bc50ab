"""Fixtures of the sandbox tests (helpers live in ``_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._helpers import BLOCK, RATE, make


@pytest.fixture
def prepared() -> Iterator[Any]:
    """Factory of prepared processors that are closed at the end of the test."""
    made: list[Any] = []

    def factory(source: str, channels: int = 2, **kwargs: Any) -> Any:
        proc = make(source, **kwargs)
        made.append(proc)
        proc.prepare(RATE, BLOCK, channels)
        return proc

    yield factory
    for proc in made:
        proc.close()


@pytest.fixture
def sandbox_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory so any file a plugin manages to create is visible."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
