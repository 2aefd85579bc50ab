"""pluggy markers and hook specifications of AERS (project name ``"aers"``): a leaf module.

It imports nothing of the project at run time, so any package can mark a hook
implementation without pulling in the registry, the store or cryptography. Every source
of node types registers through these hooks: trusted pip-installed packages (entry points
in group ``aers.plugins``) and signed plugins from the store; the registry receives the
built-ins (``aers_host._builtins``) through the same hook. A package implements them with
``@hookimpl``::

    from aers_host.plugins import hookimpl

    @hookimpl
    def aers_register_processors():
        return [MY_NODE_TYPE]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import pluggy

if TYPE_CHECKING:
    from ._nodetype import NodeType

PROJECT_NAME: Final = "aers"
#: Entry-point group scanned for trusted, pip-installed plugin packages.
ENTRY_POINT_GROUP: Final = "aers.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class AersHookSpecs:
    """The hooks a plugin package may implement."""

    @hookspec
    def aers_register_processors(self) -> Sequence[NodeType]:  # type: ignore[empty-body]
        """Return the node types this package provides."""

    @hookspec
    def aers_register_event_generators(self) -> Sequence[Any]:  # type: ignore[empty-body]
        """Return event generators (objects with ``name`` and ``generate``) of this package."""
