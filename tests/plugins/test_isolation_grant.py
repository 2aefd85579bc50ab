"""Isolation is the user's choice: an author may ask for in-process, the user's trust grants it.

Attack (hardening review): a plugin signed by a key the user trusts for ``python`` only put
``isolation: in-process`` in its manifest and ran in the host with no worker, no fences and
no deadline. Now only a key trusted for native code, or the user's own config for one node,
grants in-process (``docs/plugins.md``, "Isolation").
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_fakes import Publisher

from aers_host._nodetype import CheckContext
from aers_host.plugins import PluginStore, StorePluginType
from aers_host.sandbox import InProcessProcessor, SandboxedProcessor

pytestmark = pytest.mark.security


def _installed(publisher: Publisher, tmp_path: Path, scope: str, isolation: str) -> StorePluginType:
    store = PluginStore(tmp_path / "store", keyring=publisher.keyring(scope), reserved=frozenset())
    plugin = store.install(publisher.plugin_dir(tmp_path, isolation=isolation))
    return StorePluginType.of(plugin)


def _create(node: StorePluginType, tmp_path: Path, **options: object) -> object:
    ctx = CheckContext(48_000, 256, tmp_path, node_id="fx", node_options=options)
    return node.create({}, ctx)


def test_an_author_cannot_lower_isolation_with_a_python_only_key(
    publisher: Publisher, tmp_path: Path
) -> None:
    node = _installed(publisher, tmp_path, "python", "in-process")
    assert (node.plugin.isolation, node.plugin.requested_isolation) == ("sandbox", "in-process")
    proc = _create(node, tmp_path)
    try:
        assert isinstance(proc, SandboxedProcessor)  # a worker, its fences and a deadline
        assert not isinstance(proc, InProcessProcessor)
    finally:
        proc.close()  # type: ignore[attr-defined]


def test_the_users_config_grants_in_process_for_one_node(
    publisher: Publisher, tmp_path: Path
) -> None:
    node = _installed(publisher, tmp_path, "python", "in-process")
    assert isinstance(_create(node, tmp_path, isolation="in-process"), InProcessProcessor)


def test_a_key_trusted_for_native_code_grants_the_authors_request(
    publisher: Publisher, tmp_path: Path
) -> None:
    """Scope ``all``: the only scope that signs Python and also runs code in-process."""
    node = _installed(publisher, tmp_path, "all", "in-process")
    assert (node.plugin.isolation, node.plugin.requested_isolation) == ("in-process", None)
    assert isinstance(_create(node, tmp_path), InProcessProcessor)


def test_sandbox_requests_are_kept_whatever_the_key(publisher: Publisher, tmp_path: Path) -> None:
    node = _installed(publisher, tmp_path, "all", "sandbox")
    assert (node.plugin.isolation, node.plugin.requested_isolation) == ("sandbox", None)
