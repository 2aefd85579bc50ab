"""Every built-in node type, registered through the same pluggy hook as plugins.

One hook implementation gathers the built-ins of each package (DSP, the ``output`` sink,
the event source and ducker), so the registry sees one ``builtin`` source.
"""

from __future__ import annotations

from ._nodetype import NodeType
from .plugins.hookspecs import hookimpl


@hookimpl
def aers_register_processors() -> list[NodeType]:
    """The built-in node types (docs/config.md, "Node types")."""
    from . import dsp, remote
    from .graph import _input, _sinks

    types: list[NodeType] = [
        *dsp.aers_register_processors(),
        *_sinks.aers_register_processors(),
        _input.INPUT,
        remote.REMOTE,
    ]
    from . import events

    register_events = getattr(events, "aers_register_processors", None)
    return [*types, *register_events()] if register_events else types
