"""A pip-installed-looking distribution on ``sys.path``, for entry-point plugin tests.

``importlib.metadata`` finds a distribution by its ``*.dist-info`` folder, so a module plus
``METADATA`` and ``entry_points.txt`` beside it is all pluggy's
``load_setuptools_entrypoints`` needs: no pip, no network, nothing left behind.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from aers_host.plugin_api import ENTRY_POINT_GROUP


def install_distribution(
    site: Path, monkeypatch: pytest.MonkeyPatch, *, dist: str, module: str, source: str
) -> str:
    """Write ``module`` (``source``) as distribution ``dist`` with an ``aers.plugins`` entry.

    Returns:
        ``dist``, the name the registry reports as ``entry-point:<dist>``.
    """
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{module} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, module, raising=False)
    return dist
