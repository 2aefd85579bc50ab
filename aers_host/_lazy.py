"""Package attributes imported on first use (PEP 562), for quick start-up.

``aers --help`` and ``aers validate`` must not pay for numba, scipy or websockets; packages
whose public names come from modules that need them re-export those names lazily: a
literal ``__all__``, a ``_WHERE`` table naming each name's module, the real imports under
``TYPE_CHECKING`` for type checkers, and ``__getattr__ = exports_from(__name__, _WHERE)``.

Example:
    >>> getattr_ = exports_from("aers_host", {"AersError": "aers_host.errors"})
    >>> getattr_("AersError").__name__
    'AersError'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def exports_from(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name from the module ``where`` gives.

    Args:
        package: the package's ``__name__`` (anchor of relative module names).
        where: public name → module, absolute or relative to ``package`` (``"._plan"``).
    """

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module, package), name)

    return __getattr__
