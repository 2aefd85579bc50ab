"""Sessions remember plugin builds from the store and from entry points, and notice changes."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from graphs import Registry

from aers_host._nodetype import BuiltinNodeType
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.dsp import Gain
from aers_host.errors import SessionError
from aers_host.plugins import InstalledRef, PluginStore
from aers_host.session import check_plugins, plugin_fingerprints, session_from_state


def fake_type(name: str, origin: str) -> BuiltinNodeType:
    return BuiltinNodeType(name, "processor", "test plugin", lambda p, c: Gain(), origin=origin)


@pytest.fixture
def registry(registry: Registry) -> dict[str, object]:
    """The built-in node types plus a store plugin and an entry-point package."""
    reg: dict[str, object] = dict(registry)
    reg["acme"] = fake_type("acme", "store")
    reg["vendor"] = fake_type("vendor", "entry-point:numpy")
    return reg


def config(registry: dict[str, object]):  # type: ignore[no-untyped-def]
    data = {
        "nodes": {"s": {"type": "sine"}, "a": {"type": "acme"}, "v": {"type": "vendor"},
                  "o": {"type": "output"}},
        "connections": [{"from": "s", "to": "a"}, {"from": "a", "to": "v"},
                        {"from": "v", "to": "o"}],
    }  # fmt: skip
    return validate_config_data(ParsedDocument(data, "<t>"), registry=registry, base_dir=Path())  # type: ignore[arg-type]


def test_store_and_entry_point_builds_are_recorded_and_checked(
    registry: dict[str, object], monkeypatch: pytest.MonkeyPatch, aers_home: Path
) -> None:
    installed = {"acme": InstalledRef("1.0.0", "ab" * 32)}
    monkeypatch.setattr(PluginStore, "installed_ref", lambda self, name: installed.get(name))
    cfg = config(registry)
    saved = session_from_state("s", cfg, {}, registry)  # type: ignore[arg-type]
    assert saved.plugins["acme"].digest == "ab" * 32
    assert saved.plugins["vendor"].version == importlib.metadata.version("numpy")
    assert "sine" not in saved.plugins  # built-ins are part of AERS itself

    assert check_plugins(saved, plugin_fingerprints(cfg, registry)) == []  # type: ignore[arg-type]
    installed["acme"] = InstalledRef("1.0.1", "cd" * 32)  # upgraded since the save
    with pytest.raises(SessionError, match=r"'acme' changed: session made with 1\.0\.0"):
        check_plugins(saved, plugin_fingerprints(cfg, registry))  # type: ignore[arg-type]
