"""Optional extras: which features need which packages, and the one-line refusal.

``pip install aers-host`` is the lean plugin host: validate, graph, render, run, plugins,
keys, sessions. Serving, remote nodes, sweeps, datasets and HTML reports each need an extra
(``pyproject.toml`` lists the packages; docs/install.md the commands). A command that needs
a missing extra says so in one line before doing any work, instead of a traceback from an
import deep inside it.

Example:
    >>> missing_modules("report") in ([], ["matplotlib"])
    True
"""

from __future__ import annotations

import importlib.util
from typing import Final

from .errors import MissingExtraError

#: Extra → the top-level modules it installs that AERS imports (what ``find_spec`` checks).
EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "serve": ("fastapi", "uvicorn"),
    "remote": ("websockets",),
    "batch": ("dask", "distributed"),
    "dataset": ("jams",),
    "report": ("matplotlib",),
    "jack": ("jack",),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed).

    Looks the modules up without importing them, so checking costs no start-up time.
    """
    missing = []
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a finder refused it, or a broken stub module
            found = False
        if not found:
            missing.append(module)
    return missing


def require_extra(extra: str, what: str) -> None:
    """Refuse ``what`` (``"aers serve"``) unless every module of ``extra`` is installed.

    Raises:
        MissingExtraError: ``what needs the EXTRA extra: pip install 'aers-host[EXTRA]'``.
    """
    if missing_modules(extra):
        raise MissingExtraError(what, extra)
