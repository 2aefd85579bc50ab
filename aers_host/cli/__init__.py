"""The ``aers`` command-line interface.

``main`` (the console script) is importable without typer: ``aers --version`` answers
before the CLI loads (:mod:`._entry`). ``app`` (the typer app) loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports_from

__all__ = ["app", "main"]

_WHERE = {"app": "._app", "main": "._entry"}

if TYPE_CHECKING:
    from ._app import app
    from ._entry import main

__getattr__ = exports_from(__name__, _WHERE)
