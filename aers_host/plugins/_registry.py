"""The node-type registry: every ``type:`` a config may name, from every source.

Sources, in the order they are collected: the built-ins (``aers.builtin``), trusted
pip-installed packages (entry points in group ``aers.plugins``), then signed plugins from
the store (``aers.store``). All three register through the same pluggy hook. The registry
*receives* the built-ins (:func:`build_registry`; ``aers_host._builtins`` holds the one
list of them), so it imports none of the packages that define them.

Built-in names are reserved: a plugin that registers one is refused, so a config's
``type: eq`` always means the built-in EQ.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, cast

import pluggy
from pluggy import HookImpl

from .._hooks import ENTRY_POINT_GROUP, PROJECT_NAME, AersHookSpecs, hookimpl
from .._nodetype import NodeTraits, NodeType
from ..errors import PluginValidationError

#: pluggy names of the two sources that are not entry points.
BUILTIN_PLUGIN: Final = "aers.builtin"
STORE_PLUGIN: Final = "aers.store"


@dataclass(slots=True)
class NodeRegistry(Mapping[str, NodeType]):
    """Name → node type, with built-in names reserved, and where each type came from."""

    #: Names only a ``builtin`` source may register (the built-ins' own).
    reserved: frozenset[str] = frozenset()
    _types: dict[str, NodeType] = field(default_factory=dict)
    _sources: dict[str, str] = field(default_factory=dict)
    #: Name → why a source's type of that name was not registered (:func:`collect`).
    refused: dict[str, str] = field(default_factory=dict)

    def add(self, node_type: NodeType, source: str | None = None) -> None:
        """Register a node type; a clash with an existing or reserved name is refused.

        Args:
            node_type: the type to add.
            source: ``builtin``, ``entry-point:<dist>`` or ``store`` (default: its origin).

        Raises:
            PluginValidationError: the name is taken or reserved for a built-in, or the
                type declares no ``traits`` (everything that reads a type relies on them).
        """
        if not isinstance(getattr(node_type, "traits", None), NodeTraits):
            raise PluginValidationError(
                node_type.name,
                "declares no `traits` (a NodeTraits; BuiltinNodeType has empty ones by "
                "default, a class of your own sets `traits = NO_TRAITS`)",
            )
        source = source or node_type.origin
        existing = self._types.get(node_type.name)
        if existing is not None or (node_type.name in self.reserved and source != "builtin"):
            taken_by = self._sources.get(node_type.name, "builtin")
            reason = "a built-in type" if taken_by == "builtin" else taken_by
            raise PluginValidationError(
                node_type.name,
                f"name collides with {reason} of the same name; built-in names are reserved "
                "(rename the plugin)",
            )
        self._types[node_type.name] = node_type
        self._sources[node_type.name] = source

    def source(self, name: str) -> str:
        """Where ``name`` came from: ``builtin``, ``entry-point:<dist>`` or ``store``."""
        return self._sources[name]

    def __getitem__(self, name: str) -> NodeType:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)


class BuiltinHooks:
    """Hook implementation that contributes the built-in node types it was given."""

    def __init__(self, node_types: Iterable[NodeType]) -> None:
        self.node_types = tuple(node_types)

    @hookimpl
    def aers_register_processors(self) -> Sequence[NodeType]:
        """The built-ins (pluggy hook ``aers_register_processors``)."""
        return self.node_types


def make_plugin_manager(builtins: Iterable[NodeType] = ()) -> pluggy.PluginManager:
    """A plugin manager with the AERS hookspecs and ``builtins`` registered as ``aers.builtin``."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(AersHookSpecs)
    pm.register(BuiltinHooks(builtins), name=BUILTIN_PLUGIN)
    return pm


def _source_names(pm: pluggy.PluginManager) -> dict[str, str]:
    """Map each pluggy plugin name to its registry source label."""
    labels = {BUILTIN_PLUGIN: "builtin", STORE_PLUGIN: "store"}
    for plugin, dist in pm.list_plugin_distinfo():
        name = pm.get_name(plugin)
        if name is not None:
            labels[name] = f"entry-point:{dist.project_name}"
    return labels


def collect(pm: pluggy.PluginManager) -> NodeRegistry:
    """Build the registry from every registered hook implementation.

    Each implementation is called on its own, built-ins first and the store last, so a
    clash is always blamed on the newcomer and every type knows its source. The newcomer
    is left out and recorded in ``refused`` (shown by ``aers plugin list``, and as the hint
    when a config names it): one badly named package must not stop every other graph.
    """
    labels = _source_names(pm)
    rank = {BUILTIN_PLUGIN: 0, STORE_PLUGIN: 2}
    impls = sorted(
        (i for i in pm.hook.aers_register_processors.get_hookimpls() if not _is_wrapper(i)),
        key=lambda i: rank.get(i.plugin_name, 1),
    )
    batches = [(impl.plugin_name, list(_as_iterable(impl.function()))) for impl in impls]
    registry = NodeRegistry(
        reserved=frozenset(
            t.name for name, batch in batches if name == BUILTIN_PLUGIN for t in batch
        )
    )
    for plugin_name, batch in batches:
        source = labels.get(plugin_name, plugin_name)
        for node_type in batch:
            try:
                registry.add(node_type, source)
            except PluginValidationError as err:
                registry.refused.setdefault(node_type.name, f"{source}: {err}")
    return registry


def entry_point_names() -> frozenset[str]:
    """Node type names registered by pip-installed packages (group ``aers.plugins``).

    A store plugin may not take one: which of the two a config meant would depend on
    load order.
    """
    pm = make_plugin_manager()
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    impls = pm.hook.aers_register_processors.get_hookimpls()
    return frozenset(
        t.name
        for i in impls
        if i.plugin_name != BUILTIN_PLUGIN and not _is_wrapper(i)
        for t in _as_iterable(i.function())
    )


def _is_wrapper(impl: HookImpl) -> bool:
    """Wrappers observe other implementations; they register nothing themselves."""
    return bool(impl.hookwrapper or impl.wrapper)


def _as_iterable(batch: object) -> Iterable[NodeType]:
    """A hook's return value as node types (pluggy types results as ``object``)."""
    return cast(Iterable[NodeType], batch or ())


def build_registry(
    builtins: Iterable[NodeType], *, entry_points: bool = True, store: bool = True
) -> NodeRegistry:
    """A registry of ``builtins``, trusted entry-point packages and signed plugins.

    ``aers_host.default_registry`` calls it with every built-in (what a CLI run uses).

    Args:
        builtins: the built-in node types (their names are reserved).
        entry_points: load packages from the ``aers.plugins`` entry-point group.
        store: add the plugins installed in the store, each re-verified now.
    """
    from ._discovery import StoreHooks
    from ._store import PluginStore

    builtins = tuple(builtins)
    pm = make_plugin_manager(builtins)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    if store:
        reserved = frozenset(t.name for t in builtins)
        pm.register(StoreHooks(PluginStore(reserved=reserved)), name=STORE_PLUGIN)
    return collect(pm)
