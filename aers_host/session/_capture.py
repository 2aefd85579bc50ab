"""From a running graph to a :class:`Session` and back, with the plugin-build check.

A session remembers which build of every non-built-in node type it was made with
(:class:`PluginFingerprint`: store plugins by the digest of their signed manifest content,
entry-point packages by distribution version). Restoring state into a different build is
how a session silently produces different audio, so :func:`check_plugins` refuses it
unless the caller explicitly allows it, and then still warns.

Example:
    >>> plugin_changes({"acme": PluginFingerprint("store", "1.0", "aa")},
    ...                {"acme": PluginFingerprint("store", "1.1", "bb")})
    ["plugin 'acme' changed: session made with 1.0 (aa…), installed now 1.1 (bb…)"]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._nodetype import NodeType
from ..config import GraphConfig, ParsedDocument, validate_config_data
from ..errors import AersWarning, SessionError
from ._model import PluginFingerprint, Session


class PluginChangedWarning(AersWarning):
    """A session is restored with plugin builds other than the ones it was saved with."""


def plugin_fingerprints(
    config: GraphConfig, registry: Mapping[str, NodeType]
) -> dict[str, PluginFingerprint]:
    """The build of every non-built-in node type ``config`` uses, as installed now."""
    from .._builtins import builtin_names
    from ..plugins import PluginStore

    result: dict[str, PluginFingerprint] = {}
    store: PluginStore | None = None
    for spec in config.nodes.values():
        node_type = registry.get(spec.type)
        if node_type is None or node_type.origin == "builtin" or spec.type in result:
            continue
        origin = node_type.origin
        version, digest = "", ""
        if origin.startswith("entry-point:"):
            import importlib.metadata  # ~0.1 s: only for graphs using pip-installed plugins

            try:
                version = importlib.metadata.version(origin.partition(":")[2])
            except importlib.metadata.PackageNotFoundError:
                version = ""
        else:
            store = store or PluginStore(reserved=builtin_names())
            ref = store.installed_ref(spec.type)
            if ref is not None:
                version, digest = ref.version, ref.digest
        result[spec.type] = PluginFingerprint(origin, version, digest)
    return result


def plugin_changes(
    saved: Mapping[str, PluginFingerprint], current: Mapping[str, PluginFingerprint]
) -> list[str]:
    """One message per plugin whose build differs between ``saved`` and ``current``."""

    def label(fp: PluginFingerprint) -> str:
        return f"{fp.version or '?'} ({fp.digest[:2]}…)" if fp.digest else fp.version or "?"

    changes = []
    for name, was in saved.items():
        now = current.get(name)
        if now is None:
            changes.append(f"plugin {name!r} ({label(was)}) is not installed now")
        elif (now.version, now.digest) != (was.version, was.digest):
            changes.append(
                f"plugin {name!r} changed: session made with {label(was)}, "
                f"installed now {label(now)}"
            )
    return changes


def check_plugins(
    session: Session, current: Mapping[str, PluginFingerprint], *, allow_changed: bool = False
) -> list[str]:
    """Refuse (or, with ``allow_changed``, warn about) plugin builds that changed.

    Returns:
        The changes found (empty when everything matches).

    Raises:
        SessionError: something changed and ``allow_changed`` is false.
    """
    changes = plugin_changes(session.plugins, current)
    if changes and not allow_changed:
        raise SessionError(
            "\n".join([*changes, f"refusing to restore session {session.name!r} "
                       "into different plugin builds (pass --allow-changed to do it anyway)"])
        )  # fmt: skip
    for change in changes:
        warnings.warn(change, PluginChangedWarning, stacklevel=2)
    return changes


def session_from_state(
    name: str,
    config: GraphConfig,
    state: Mapping[str, Any],
    registry: Mapping[str, NodeType],
) -> Session:
    """A session of ``config`` whose graph is in ``state`` (what ``Engine.state()`` returned).

    ``state`` may be empty: the session then starts the config afresh at sample 0.
    """
    data = dict(config.data)
    position = int(state.get("position", 0))
    flags = {
        node_id: {**dict(f), "solo": bool(dict(f).get("solo", False))}
        for node_id, f in dict(state.get("flags", {})).items()
    }
    return Session(
        name=name,
        config=data,
        position=position,
        base_dir=str(config.base_dir.resolve()),
        nodes=dict(state.get("nodes", {})),
        edges=dict(state.get("edges", {})),
        flags=flags,
        scene={
            "events": list(data.get("events", [])),
            "scene": data.get("scene"),
            "routing": dict(data.get("routing", {})),
            "position": position,
        },
        plugins=plugin_fingerprints(config, registry),
    )


def session_config(
    session: Session, registry: Mapping[str, NodeType], overrides: Mapping[str, Any] | None = None
) -> GraphConfig:
    """Validate the session's config again, as a config file would be.

    Raises:
        ConfigError: the config no longer validates (a plugin was removed, a file moved).
    """
    doc = ParsedDocument(dict(session.config), f"<session {session.name}>")
    return validate_config_data(
        doc, registry=registry, overrides=overrides, base_dir=Path(session.base_dir)
    )
