"""pluggy hook specifications of AERS (project name ``"aers"``).

Every source of node types registers through these hooks: the built-in DSP
(``aers_host.dsp``), trusted pip-installed packages (entry points in group
``aers.plugins``) and signed plugins from the store. A package implements them with
``@hookimpl``, imported from the public plugin API (docs/plugin-api.md)::

    from aers_host.plugin_api import hookimpl

    @hookimpl
    def aers_register_processors():
        return [MY_NODE_TYPE]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .._nodetype import NodeType

PROJECT_NAME = "aers"
#: Entry-point group scanned for trusted, pip-installed plugin packages.
ENTRY_POINT_GROUP = "aers.plugins"

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
