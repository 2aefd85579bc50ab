"""Fixtures of the plugin tests; the fakes themselves live in plugin_fakes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_fakes import NOW, Publisher

from aers_host import builtin_names
from aers_host.plugins import PluginStore, PluginVerifier


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
def verifier(publisher: Publisher) -> PluginVerifier:
    return PluginVerifier(publisher.keyring(), now=NOW, reserved=builtin_names())


@pytest.fixture
def store(tmp_path: Path, publisher: Publisher) -> PluginStore:
    return PluginStore(
        tmp_path / "store", keyring=publisher.keyring(), now=NOW, reserved=builtin_names()
    )
