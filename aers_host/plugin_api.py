"""The public, versioned API for plugin authors (docs/plugin-api.md).

Everything a plugin author implements or calls is importable from here, and nothing else
is promised: names in other modules may move between releases, names listed in
``__all__`` below change only as :data:`PLUGIN_API_VERSION` says.

Three kinds of plugin use it differently:

* **Trusted pip packages** (entry-point group :data:`ENTRY_POINT_GROUP`) implement the
  hooks of :class:`AersHookSpecs` with :data:`hookimpl`. ``aers_register_processors``
  returns :class:`NodeType` objects — usually a :class:`BuiltinNodeType`, a node type
  described by data, with :class:`NodeTraits` saying what the host may rely on
  (:data:`NO_TRAITS` when nothing) — whose ``create`` returns a :class:`Processor`, usually a
  :class:`ProcessorBase` subclass. ``aers_register_event_generators`` returns
  :class:`EventGenerator` objects.
* **Signed Python plugins** run in the sandbox, where the plugin module may import only
  ``math`` and ``numpy`` — never this module. Their contract is a class shape (see
  docs/plugin-api.md, "Sandboxed Python plugins"); their tests load them exactly as the
  sandbox does with :func:`load_plugin_dir`.
* **Native plugins** implement the C ABI of ``aers_plugin.h``, which carries its own
  version; :func:`include_dir` is the folder holding the headers.

Names are imported on first use (PEP 562), so importing this module costs nothing until a
name is used: an entry-point package that only marks hooks pulls in no DSP or sandbox.

Example:
    A pip package's node type with one automatable parameter::

        import numpy as np
        from aers_host.plugin_api import BuiltinNodeType, ParamSpec, ProcessorBase, hookimpl

        class Trim(ProcessorBase):
            PARAMS = (ParamSpec("gain", default=1.0, min=0.0, max=2.0),)

            def render(self, inp, out, start):
                np.multiply(inp, self.values["gain"], out=out)

        TRIM = BuiltinNodeType(
            name="acme-trim", role="processor", summary="a linear gain",
            factory=lambda params, ctx: Trim(**params), specs=Trim.PARAMS,
            origin="entry-point:acme",
        )

        @hookimpl
        def aers_register_processors():
            return [TRIM]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._lazy import exports_from

#: Version of this API, ``MAJOR.MINOR``. MINOR grows when a name or an optional member is
#: added; MAJOR when a name is removed or a contract changes incompatibly. A name is removed
#: only after one minor release in which using it warns with ``DeprecationWarning``.
PLUGIN_API_VERSION: Final = "1.1"

__all__ = [
    "ENTRY_POINT_GROUP",
    "NO_TRAITS",
    "PLUGIN_API_VERSION",
    "PROJECT_NAME",
    "AersHookSpecs",
    "BlockKernel",
    "Buffer",
    "BuiltinNodeType",
    "ChannelError",
    "CheckContext",
    "EventGenerator",
    "NodeTraits",
    "NodeType",
    "ParamEvent",
    "ParamIssue",
    "ParamSpec",
    "PluginValidationError",
    "Processor",
    "ProcessorBase",
    "Role",
    "hookimpl",
    "hookspec",
    "include_dir",
    "load_plugin_dir",
    "same_channels",
]

_WHERE: Final = {
    "ENTRY_POINT_GROUP": "aers_host._hooks",
    "PROJECT_NAME": "aers_host._hooks",
    "AersHookSpecs": "aers_host._hooks",
    "BlockKernel": "aers_host._processor",
    "Buffer": "aers_host._processor",
    "BuiltinNodeType": "aers_host._nodetype",
    "ChannelError": "aers_host._nodetype",
    "CheckContext": "aers_host._nodetype",
    "EventGenerator": "aers_host.events._generators",
    "NO_TRAITS": "aers_host._nodetype",
    "NodeTraits": "aers_host._nodetype",
    "NodeType": "aers_host._nodetype",
    "ParamEvent": "aers_host._processor",
    "ParamIssue": "aers_host._nodetype",
    "ParamSpec": "aers_host._processor",
    "PluginValidationError": "aers_host.errors",
    "Processor": "aers_host._processor",
    "ProcessorBase": "aers_host._processor",
    "Role": "aers_host._nodetype",
    "hookimpl": "aers_host._hooks",
    "hookspec": "aers_host._hooks",
    "include_dir": "aers_host.native._build",
    "load_plugin_dir": "aers_host.sandbox._dev",
    "same_channels": "aers_host._nodetype",
}

if TYPE_CHECKING:
    from ._hooks import (
        ENTRY_POINT_GROUP,
        PROJECT_NAME,
        AersHookSpecs,
        hookimpl,
        hookspec,
    )
    from ._nodetype import (
        NO_TRAITS,
        BuiltinNodeType,
        ChannelError,
        CheckContext,
        NodeTraits,
        NodeType,
        ParamIssue,
        Role,
        same_channels,
    )
    from ._processor import (
        BlockKernel,
        Buffer,
        ParamEvent,
        ParamSpec,
        Processor,
        ProcessorBase,
    )
    from .errors import PluginValidationError
    from .events._generators import EventGenerator
    from .native._build import include_dir
    from .sandbox._dev import load_plugin_dir


__getattr__ = exports_from(__name__, _WHERE)
