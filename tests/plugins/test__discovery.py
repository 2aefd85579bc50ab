"""Discovery: store plugins and entry points become node types through the pluggy hook."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pluggy
import pytest
from fake_dist import install_distribution
from plugin_fakes import PY_SOURCE, Publisher

from aers_host._nodetype import BuiltinNodeType, CheckContext
from aers_host.errors import HashMismatchError, PluginError
from aers_host.plugins import (
    ENTRY_POINT_GROUP,
    BrokenPluginType,
    PluginStore,
    StoreHooks,
    StorePluginType,
    collect,
    hookimpl,
)
from aers_host.plugins._discovery import LOADERS
from aers_host.plugins._registry import BUILTIN_PLUGIN, STORE_PLUGIN
from aers_host.plugins.hookspecs import PROJECT_NAME, AersHookSpecs

CTX = CheckContext(sample_rate=48000, block_size=512, base_dir=Path())


class LoaderSpy:
    """Stands in for aers_host.sandbox / aers_host.native and records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def module(self, kind: str) -> types.ModuleType:
        module = types.ModuleType(f"spy_{kind}")

        def load(plugin: Any, params: Any, ctx: CheckContext) -> object:
            self.calls.append((kind, plugin, dict(params)))
            return object()

        setattr(module, LOADERS[kind][1], load)
        return module


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch) -> LoaderSpy:
    spy = LoaderSpy()
    for kind in ("python", "native"):
        monkeypatch.setitem(sys.modules, f"spy_{kind}", spy.module(kind))
        monkeypatch.setitem(LOADERS, kind, (f"spy_{kind}", LOADERS[kind][1]))
    return spy


def bare_manager(store: PluginStore, *builtins: BuiltinNodeType) -> pluggy.PluginManager:
    """A manager with the store and (optionally) fake built-ins, without the real DSP."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(AersHookSpecs)
    pm.register(types.SimpleNamespace(aers_register_processors=_impl(list(builtins))),
                name=BUILTIN_PLUGIN)  # fmt: skip
    pm.register(StoreHooks(store), name=STORE_PLUGIN)
    return pm


def _impl(types_: list[Any]) -> Any:
    @hookimpl
    def aers_register_processors() -> list[Any]:
        return types_

    return aers_register_processors


def node(name: str) -> BuiltinNodeType:
    return BuiltinNodeType(name=name, role="processor", summary=name, factory=lambda p, c: None)  # type: ignore[arg-type,return-value]


def test_store_plugin_becomes_a_node_type_with_param_specs(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    registry = collect(bare_manager(store, node("gain")))
    fx = registry["fx"]
    assert isinstance(fx, StorePluginType)
    assert registry.source("fx") == "store" and registry.source("gain") == "builtin"
    (spec,) = fx.param_specs()
    assert (spec.name, spec.default, spec.min, spec.max) == ("depth", 0.5, 0.0, 1.0)
    assert fx.params_schema()["additionalProperties"] is False
    assert fx.output_channels({}, 2, CTX) == 2


@pytest.mark.parametrize("kind", ["python", "native"])
def test_create_hands_the_verified_plugin_to_the_loader_of_its_kind(
    store: PluginStore, publisher: Publisher, tmp_path: Path, loaders: LoaderSpy, kind: str
) -> None:
    store.install(publisher.plugin_dir(tmp_path, kind=kind))
    collect(bare_manager(store))["fx"].create({"depth": 0.25}, CTX)
    ((called_kind, plugin, params),) = loaders.calls
    assert (called_kind, plugin.kind, params) == (kind, kind, {"depth": 0.25})


@pytest.mark.security
def test_file_replaced_between_verification_and_load_is_never_used(
    store: PluginStore, publisher: Publisher, tmp_path: Path, loaders: LoaderSpy
) -> None:
    source = publisher.plugin_dir(tmp_path)
    store.install(source)
    registry = collect(bare_manager(store))  # this run's verification
    evil = b"import os\nos.system('touch /tmp/pwned')\n"
    for folder in (store.root / "fx", source):  # swap the file everywhere it could be read
        (folder / "fx.py").write_bytes(evil)
    registry["fx"].create({}, CTX)
    ((_, plugin, _),) = loaders.calls
    assert plugin.files["fx.py"] == PY_SOURCE
    assert plugin.entry_bytes() == PY_SOURCE
    assert evil not in plugin.files.values()


@pytest.mark.security
def test_tampered_installed_plugin_is_registered_broken_and_never_loaded(
    store: PluginStore, publisher: Publisher, tmp_path: Path, loaders: LoaderSpy
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    (store.root / "fx" / "fx.py").write_bytes(b"tampered")
    fx = collect(bare_manager(store))["fx"]
    assert isinstance(fx, BrokenPluginType)
    issues = fx.check({}, CTX)
    assert issues and "fx.py" in issues[0].message
    with pytest.raises(HashMismatchError):
        fx.create({}, CTX)
    assert loaders.calls == []


def test_missing_loader_is_a_plugin_error(
    store: PluginStore, publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    monkeypatch.setitem(LOADERS, "python", ("aers_host_no_such_module", "load"))
    with pytest.raises(PluginError, match="cannot load python plugins"):
        collect(bare_manager(store))["fx"].create({}, CTX)


@pytest.mark.security
def test_registry_refuses_a_plugin_named_like_a_builtin(store: PluginStore) -> None:
    pm = bare_manager(store, node("eq"))
    squatter = node("eq")
    pm.register(types.SimpleNamespace(aers_register_processors=_impl([squatter])), name="x")
    registry = collect(pm)
    assert registry["eq"] is not squatter and registry.source("eq") == "builtin"
    assert "built-in names are reserved" in registry.refused["eq"]


@pytest.mark.security
def test_reserved_names_are_the_builtins_the_registry_received(store: PluginStore) -> None:
    pm = bare_manager(store, node("reverb"))
    pm.register(types.SimpleNamespace(aers_register_processors=_impl([node("reverb")])), name="x")
    pm.register(types.SimpleNamespace(aers_register_processors=_impl([node("chorus")])), name="y")
    registry = collect(pm)
    assert registry.reserved == {"reverb"}
    assert registry.source("reverb") == "builtin" and "reserved" in registry.refused["reverb"]
    assert registry.source("chorus") == "y"


@pytest.mark.security
def test_a_type_without_traits_is_refused_and_named(store: PluginStore) -> None:
    class Traitless:  # a type written before traits existed
        name, role, summary, origin = "old-fx", "processor", "old", "entry-point:old"

    pm = bare_manager(store, node("gain"))
    pm.register(types.SimpleNamespace(aers_register_processors=_impl([Traitless()])), name="x")
    registry = collect(pm)
    assert "old-fx" not in registry and "declares no `traits`" in registry.refused["old-fx"]
    assert "gain" in registry  # one bad package does not stop the others


@pytest.fixture
def entry_point_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A pip-installed-looking package 'fake-aers-ext' with an aers.plugins entry point."""
    source = (
        "from aers_host.plugin_api import BuiltinNodeType, hookimpl\n\n"
        "@hookimpl\n"
        "def aers_register_processors():\n"
        "    return [BuiltinNodeType(name='ext-fx', role='processor', summary='ext',\n"
        "                            factory=lambda p, c: None)]\n"
    )
    return install_distribution(
        tmp_path / "site", monkeypatch, dist="fake-aers-ext", module="fake_aers_ext", source=source
    )


def test_three_sources_register_through_the_same_hook(
    store: PluginStore, publisher: Publisher, tmp_path: Path, entry_point_package: str
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    pm = bare_manager(store, node("gain"))
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    registry = collect(pm)
    assert registry.source("gain") == "builtin"
    assert registry.source("ext-fx") == f"entry-point:{entry_point_package}"
    assert registry.source("fx") == "store"


def test_cli_plugin_list_shows_all_three_sources(
    aers_home: Path, tmp_path: Path, entry_point_package: str, run_cli: Any
) -> None:
    publisher = Publisher()
    (aers_home / "publisher.pub.pem").write_bytes(publisher.public_pem)
    assert run_cli("keys", "trust", aers_home / "publisher.pub.pem", "--scope", "python").code == 0
    source = publisher.plugin_dir(tmp_path, days=3650)
    # Real time is used by the CLI: sign for ten years so this test does not age.
    assert run_cli("plugin", "install", source).code == 0
    result = run_cli("plugin", "list", "--json")
    assert result.code == 0, result.err
    sources = {row["name"]: row["source"] for row in json.loads(result.out)}
    assert sources["gain"] == "builtin"
    assert sources["ext-fx"] == f"entry-point:{entry_point_package}"
    assert sources["fx"] == "store"


@pytest.mark.security
def test_a_store_plugin_cannot_take_a_pip_packages_name(
    aers_home: Path, tmp_path: Path, entry_point_package: str, run_cli: Any
) -> None:
    publisher = Publisher()
    (aers_home / "publisher.pub.pem").write_bytes(publisher.public_pem)
    assert run_cli("keys", "trust", aers_home / "publisher.pub.pem", "--scope", "python").code == 0
    result = run_cli("plugin", "install", publisher.plugin_dir(tmp_path, name="ext-fx", days=3650))
    assert result.code == 1 and "those names are reserved" in result.err
    assert not (aers_home / "plugins" / "ext-fx").exists()


def test_a_name_clash_leaves_everything_else_working(
    aers_home: Path, tmp_path: Path, entry_point_package: str, run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A store plugin installed before a pip package claimed its name: listed, not loaded."""
    publisher = Publisher()
    (aers_home / "publisher.pub.pem").write_bytes(publisher.public_pem)
    assert run_cli("keys", "trust", aers_home / "publisher.pub.pem", "--scope", "python").code == 0
    from aers_host.cli import _plugin

    monkeypatch.setattr(_plugin, "entry_point_names", frozenset)  # the package came later
    source = publisher.plugin_dir(tmp_path, name="ext-fx", days=3650)
    assert run_cli("plugin", "install", source).code == 0
    listed = run_cli("plugin", "list", "--json")
    assert listed.code == 0, listed.err
    rows = [r for r in json.loads(listed.out) if r["name"] == "ext-fx"]
    assert [r["source"] for r in rows] == [f"entry-point:{entry_point_package}", "store"]
    assert rows[1]["status"].startswith("not loaded: ") and "collides" in rows[1]["status"]
    config = tmp_path / "g.yaml"
    config.write_text("duration: 1\nnodes:\n  s: {type: sine}\n  o: {type: output}\n"
                      "connections:\n  - {from: s, to: o}\n", encoding="utf-8")  # fmt: skip
    assert run_cli("validate", config).code == 0  # a graph not using the name still works
