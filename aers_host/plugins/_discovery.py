"""Signed plugins from the store, as node types registered through the pluggy hook.

Invariants:

* :class:`StoreHooks` is an ordinary hook implementation object: the store reaches the
  registry through ``aers_register_processors`` like the built-ins and entry points do.
* Building the registry (once per run) re-reads and re-verifies every installed plugin.
  A :class:`StorePluginType` holds the resulting :class:`VerifiedPlugin`, and ``create``
  hands exactly those bytes to the loader: the store folder is never opened again, so a
  file replaced after verification is never used.
* A plugin that no longer verifies is still registered, as a :class:`BrokenPluginType`
  whose check reports why and whose ``create`` refuses, so a config naming it gets the
  real reason ("signed by revoked key …") rather than "unknown type".
* Loaders are imported lazily by kind (``aers_host.sandbox`` for python,
  ``aers_host.native`` for native), so discovery works without them.

Example:
    >>> from aers_host.plugins._discovery import StoreHooks
    >>> import pluggy  # doctest: +SKIP
    >>> pm.register(StoreHooks(PluginStore(reserved=names)), name="aers.store")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from .._hooks import hookimpl
from .._nodetype import (
    NO_TRAITS,
    CheckContext,
    NodeTraits,
    ParamIssue,
    Role,
    same_channels,
    spec_properties,
)
from .._processor import ParamSpec, Processor
from ..errors import PluginError
from ._store import PluginStore, StoreEntry
from ._verified import VerifiedPlugin

if TYPE_CHECKING:
    from .._nodetype import NodeType

#: Module and function that load each kind of verified plugin.
LOADERS: Final = {
    "python": ("aers_host.sandbox", "load_python_plugin"),
    "native": ("aers_host.native", "load_native_plugin"),
    "lv2": ("aers_host.lv2", "load_lv2_plugin"),
}

Loader = Callable[[VerifiedPlugin, Mapping[str, Any], CheckContext], Processor]


def param_specs_of(plugin: VerifiedPlugin) -> tuple[ParamSpec, ...]:
    """The manifest's params as ParamSpecs, so the config validator checks them."""
    return tuple(
        ParamSpec(
            name=p.name,
            default=float(p.default),
            min=float(p.min),
            max=float(p.max),
            unit=p.unit or "",
            doc=p.doc or "",
            choices=tuple((float(e.value), e.label) for e in p.enum or ()),
        )
        for p in plugin.params
    )


def loader_for(kind: str) -> Loader:
    """The loader function for ``kind``, imported now.

    Raises:
        PluginError: the loader module is not part of this installation.
    """
    module_name, attr = LOADERS[kind]
    try:
        module = importlib.import_module(module_name)
        return cast(Loader, getattr(module, attr))
    except (ImportError, AttributeError) as err:
        raise PluginError(
            f"cannot load {kind} plugins: {module_name}.{attr} is not available ({err})"
        ) from err


class _StoreEffect:
    """What every store node type shares: plugins are effects (ABI 1 keeps the layout)."""

    __slots__ = ()

    #: A plugin declares no traits: unknown linearity, no side-chain, never a loop's delay.
    traits: NodeTraits = NO_TRAITS

    def output_channels(
        self, params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext
    ) -> int:
        """As many channels out as in (a broken plugin too, so its one problem is trust)."""
        return same_channels(params, input_channels, ctx)


@dataclass(slots=True, eq=False)  # not frozen: NodeType declares settable attributes
class StorePluginType(_StoreEffect):
    """The node type of one verified, installed plugin; its ``type:`` is the plugin name."""

    name: str
    summary: str
    plugin: VerifiedPlugin
    specs: tuple[ParamSpec, ...]
    role: Role = "processor"
    origin: str = "store"

    @classmethod
    def of(cls, plugin: VerifiedPlugin) -> StorePluginType:
        """The node type for a verified plugin."""
        described = (plugin.manifest and plugin.manifest.description) or (
            f"signed {plugin.kind} plugin"
        )
        return cls(
            name=plugin.name,
            summary=f"{described} (v{plugin.version}, {plugin.isolation})",
            plugin=plugin,
            specs=param_specs_of(plugin),
        )

    def params_schema(self) -> Mapping[str, Any]:
        """Only the declared numeric params, each within its declared range."""
        return {
            "type": "object",
            "properties": spec_properties(self.specs),
            "additionalProperties": False,
        }

    def param_specs(self) -> Sequence[ParamSpec]:
        """The manifest's params."""
        return self.specs

    def check(self, params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
        """Nothing beyond the schema: the ranges are the plugin's whole contract."""
        return []

    def create(self, params: Mapping[str, Any], ctx: CheckContext) -> Processor:
        """Hand the verified bytes (never the store folder) to the loader of this kind.

        Raises:
            PluginError: the loader is missing or refuses the plugin.
        """
        return loader_for(self.plugin.kind)(self.plugin, params, ctx)


@dataclass(slots=True, eq=False)
class BrokenPluginType(_StoreEffect):
    """An installed plugin that failed verification this run: named, but never runnable."""

    name: str
    summary: str
    error: PluginError
    role: Role = "processor"
    origin: str = "store"

    @classmethod
    def of(cls, name: str, error: PluginError) -> BrokenPluginType:
        """The node type for a plugin that failed verification with ``error``."""
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return cls(name=name, summary=f"unusable: {first}", error=error)

    def params_schema(self) -> Mapping[str, Any]:
        """Anything: the real problem is reported by :meth:`check`."""
        return {"type": "object"}

    def param_specs(self) -> Sequence[ParamSpec]:
        """None known: the manifest did not verify."""
        return ()

    def check(self, params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
        """Report each verification problem."""
        return [
            ParamIssue("", line, "reinstall it or check: aers plugin list")
            for line in str(self.error).splitlines()
        ]

    def create(self, params: Mapping[str, Any], ctx: CheckContext) -> Processor:
        """Refuse, with the verification error.

        Raises:
            PluginError: always (the same error verification raised).
        """
        raise self.error


def node_type_of(entry: StoreEntry) -> NodeType:
    """The node type for a store entry: runnable when it verified, broken otherwise."""
    if entry.plugin is not None:
        return StorePluginType.of(entry.plugin)
    return BrokenPluginType.of(entry.name, entry.error or PluginError(f"{entry.name}: unusable"))


class StoreHooks:
    """Hook implementation that contributes the plugin store's node types.

    Args:
        store: the store to read (:func:`~aers_host.plugins.build_registry` opens the
            user's, under ``$AERS_HOME``, with the built-in names reserved).
    """

    def __init__(self, store: PluginStore) -> None:
        self.store = store
        #: What the last hook call found (verified or not), for ``aers plugin list``.
        self.entries: list[StoreEntry] = []

    @hookimpl
    def aers_register_processors(self) -> list[NodeType]:
        """Verify every installed plugin now and return its node type."""
        self.entries = self.store.entries()
        return [node_type_of(entry) for entry in self.entries]
