"""Every built-in node type, registered in one place, and the defaults that need them.

:data:`BUILTIN_TYPES` is the one list of built-ins: a type is declared in its own module
(its params, checks, channels, factory and :class:`~aers_host._nodetype.NodeTraits`) and
named here once. Everything else that asks about built-ins derives from the registry —
reserved names, linear types for stems, metered buses, side-chain inputs, feedback
delays, kernel warm-up — so adding one touches nothing else (CONTRIBUTING.md).

This module sits above the packages that define the types; the registry
(``aers_host.plugins``) receives them from here instead of importing them, and
``aers_host.load_config``/``build_graph`` use :func:`default_registry` when given none.

Example:
    >>> "delay" in builtin_names()
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ._nodetype import NodeType
from .config import GraphConfig
from .config import load_config as load_with
from .dsp._basic import GAIN, METER, MIX, PAN
from .dsp._delay import DELAY
from .dsp._dynamics import COMPRESSOR, LIMITER
from .dsp._eq import EQ
from .dsp._file import FILE
from .dsp._reverb import REVERB
from .dsp._sources import IMPULSE, NOISE, SINE
from .events._nodes import DUCK_NODE, EVENTS_NODE
from .graph._input import INPUT
from .graph._sinks import OUTPUT
from .plugins import NodeRegistry, build_registry
from .remote._client import REMOTE

if TYPE_CHECKING:
    from .graph import Plan

#: Every built-in node type, in the order ``aers plugin list`` shows them (docs/config.md).
BUILTIN_TYPES: Final[tuple[NodeType, ...]] = (
    FILE, SINE, NOISE, IMPULSE,
    GAIN, EQ, DELAY, PAN, MIX, COMPRESSOR, LIMITER, REVERB, METER,
    OUTPUT, INPUT, REMOTE, EVENTS_NODE, DUCK_NODE,
)  # fmt: skip


def builtin_names() -> frozenset[str]:
    """The built-in names, which no plugin may take."""
    return frozenset(t.name for t in BUILTIN_TYPES)


def default_registry(*, entry_points: bool = True, store: bool = True) -> NodeRegistry:
    """The registry a CLI run uses: built-ins, trusted entry-point packages, signed plugins.

    Args:
        entry_points: load packages from the ``aers.plugins`` entry-point group.
        store: add the plugins installed in the store, each re-verified now.
    """
    return build_registry(BUILTIN_TYPES, entry_points=entry_points, store=store)


def load_config(
    path: str | Path,
    *,
    registry: Mapping[str, NodeType] | None = None,
    overrides: Mapping[str, Any] | None = None,
    require_length: bool = False,
) -> GraphConfig:
    """Load and validate a config against ``registry`` (default: :func:`default_registry`).

    Raises:
        ConfigError: every problem, each as ``FILE:LINE: path: message (hint)``.
    """
    return load_with(
        path,
        registry=default_registry() if registry is None else registry,
        overrides=overrides,
        require_length=require_length,
    )


def build_graph(config: GraphConfig, registry: Mapping[str, NodeType] | None = None) -> Plan:
    """Create, prepare and wire a validated config (default registry: :func:`default_registry`).

    Raises:
        GraphError: when a processor cannot be created or prepared.
    """
    from .graph import build_plan

    return build_plan(config, default_registry() if registry is None else registry)
