"""typer's rich help and errors without importing markdown-it, Pygments and rich.traceback.

``typer.rich_utils`` (what draws ``--help`` panels and usage errors) imports
``rich.markdown`` (markdown-it-py, and Pygments through ``rich.syntax``) and
``rich.traceback`` (``rich.pretty``, attrs) at module level: ~0.08 s of CPU, a third of
``aers --help``. It only *uses* ``Markdown`` in typer's ``"markdown"`` markup mode and
``Traceback`` for pretty exceptions, and AERS uses neither (rich markup; its own error
funnel with ``pretty_exceptions_enable=False``). Upstream typer knows (the follow-up to
its lazy ``rich_utils`` change, fastapi/typer#1128) but still imports both eagerly.

:func:`import_rich_utils` imports ``typer.rich_utils`` while those two modules are stood in
for by stubs whose classes import the real one when first used, then takes the stubs out
of ``sys.modules`` again: anything that imports ``rich.markdown`` later gets the real
module, and ``Markdown``/``Traceback`` still work if typer ever calls them.

Example:
    >>> import_rich_utils()
    >>> import typer.rich_utils
    >>> typer.rich_utils.Markdown("*x*").__class__.__module__
    'rich.markdown'
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import Any

#: Module → the class typer.rich_utils takes from it at import.
_STOOD_IN = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


class _Deferred(type):
    """Metaclass of a stand-in: its calls and attributes reach the real class.

    ``Markdown(...)`` and ``Traceback.from_exception(...)`` import the module stood in for
    on first use and go to the class it defines.
    """

    _module: str
    _name: str

    def real(cls) -> Any:
        """The class stood in for (importing its module now if needed)."""
        return getattr(import_module(cls._module), cls._name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls.real(), name)


def _stub(module: str, name: str) -> types.ModuleType:
    stub = types.ModuleType(module, f"stand-in for {module} while typer.rich_utils imports")
    setattr(stub, name, _Deferred(name, (), {"_module": module, "_name": name}))
    return stub


def import_rich_utils() -> None:
    """[main-thread] Import ``typer.rich_utils`` without its unused heavy imports (once).

    Does nothing when it is already imported, and stands in only for modules not yet
    imported (a real one already there is simply used).
    """
    if "typer.rich_utils" in sys.modules:
        return
    stubs = {m: _stub(m, n) for m, n in _STOOD_IN.items() if m not in sys.modules}
    sys.modules.update(stubs)
    try:
        import_module("typer.rich_utils")
    finally:
        for module, stub in stubs.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]
