"""AERS — Audio Event Routing Simulator.

The public API (docs/api.md)::

    from aers_host import load_config, build_graph, Engine, render, AersError

Plugin authors import what they implement from :mod:`aers_host.plugin_api`
(docs/plugin-api.md), the versioned API for plugins.

Names are imported on first use (PEP 562) so that ``import aers_host.sandbox`` in a
sandbox worker does not pull numba, scipy and the engine into that process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import exports_from

__version__ = "0.1.0"

__all__ = [
    "AersError",
    "ConfigError",
    "Engine",
    "FallbackAudioError",
    "Graph",
    "GraphConfig",
    "Node",
    "ParamEvent",
    "ParamSpec",
    "Plan",
    "Processor",
    "ProcessorBase",
    "__version__",
    "build_graph",
    "builtin_names",
    "default_registry",
    "load_config",
    "render",
]

_WHERE = {
    "AersError": "aers_host.errors",
    "ConfigError": "aers_host.errors",
    "Engine": "aers_host.graph",
    "FallbackAudioError": "aers_host.errors",
    "Graph": "aers_host._graph_api",
    "GraphConfig": "aers_host.config",
    "Node": "aers_host._graph_api",
    "ParamEvent": "aers_host._processor",
    "ParamSpec": "aers_host._processor",
    "Plan": "aers_host.graph",
    "Processor": "aers_host._processor",
    "ProcessorBase": "aers_host._processor",
    "build_graph": "aers_host._builtins",
    "builtin_names": "aers_host._builtins",
    "default_registry": "aers_host._builtins",
    "load_config": "aers_host._builtins",
    "render": "aers_host._graph_api",
}

if TYPE_CHECKING:
    from ._builtins import build_graph, builtin_names, default_registry, load_config
    from ._graph_api import Graph, Node, render
    from ._processor import ParamEvent, ParamSpec, Processor, ProcessorBase
    from .config import GraphConfig
    from .errors import AersError, ConfigError, FallbackAudioError
    from .graph import Engine, Plan


__getattr__ = exports_from(__name__, _WHERE)
