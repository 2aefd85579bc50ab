"""Sweep axes that change nothing: found before the batch runs, named with the reason.

Variant ids hash the config *as written*, so an axis whose values never reach the audio
(``seed: [1, 2]`` over a graph whose every procedural source sets its own seed) would still
make distinct ids with byte-identical audio. Here each axis is tried alone on the base
config, value by value, and the *resolved* graph is compared: nodes with their params
(derived seeds included), connections, timing, and the scene's events as they will play
(seeds derived, routing resolved into targets). An axis whose values all resolve to the
same graph is refused; one value is an override, not a sweep, and is left alone.

Example:
    >>> idle = idle_axes(base, {"seed": (1, 2)}, base_doc, registry)  # doctest: +SKIP
    >>> idle[0][0]                                                    # doctest: +SKIP
    'seed'
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .._nodetype import NodeType
from ..config import GraphConfig, ParsedDocument, validate_config_data
from ..errors import ConfigError
from ._axes import set_path

#: Top-level keys whose effect :func:`resolved_graph` records in resolved form instead.
_RESOLVED_KEYS: Final = frozenset(("seed", "nodes", "events", "scene", "routing"))


def resolved_graph(config: GraphConfig) -> dict[str, Any]:
    """What a render of ``config`` depends on, with seeds and event routing resolved.

    Raises:
        ConfigError: the config's events are invalid.
    """
    from ..events import events_for_config

    data = {k: v for k, v in config.data.items() if k not in _RESOLVED_KEYS}
    data["nodes"] = {
        node_id: {"type": spec.type, "params": dict(spec.params), "options": dict(spec.options)}
        for node_id, spec in config.nodes.items()
    }
    data["events"] = [event.to_record() for event in events_for_config(config)]
    return data


def idle_axes(
    base: Mapping[str, Any],
    axes: Mapping[str, tuple[Any, ...]],
    base_doc: ParsedDocument,
    registry: Mapping[str, NodeType],
) -> list[tuple[str, str]]:
    """``(axis path, hint)`` of every axis whose values all resolve to one graph.

    Args:
        base: the base config's data.
        axes: axis path → values (already checked).
        base_doc: the base config as parsed (its file locates relative paths and lines).
        registry: node types.

    An axis whose value makes the config invalid is not judged here: the variant checks
    report that problem.
    """
    idle = []
    for path, values in axes.items():
        if len(values) < 2:
            continue
        seen: list[dict[str, Any]] = []
        for value in values:
            data = copy.deepcopy(dict(base))
            set_path(data, path, copy.deepcopy(value))
            doc = ParsedDocument(data, base_doc.file, base_doc.lines)
            try:
                config = validate_config_data(
                    doc, registry=registry, base_dir=Path(base_doc.file).parent
                )
                graph = resolved_graph(config)
            except ConfigError:
                seen = []
                break
            if seen and graph != seen[0]:
                seen = []
                break
            seen.append(graph)
        if seen:
            idle.append((path, _hint(path)))
    return idle


def _hint(path: str) -> str:
    if path == "seed":
        return (
            "the top-level seed reaches only procedural sources that set no seed of their "
            "own (noise nodes, generated events); remove their `seed` or sweep it instead"
        )
    return "the value it sets is not used by the render; remove the axis or sweep another key"
