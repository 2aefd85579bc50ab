"""aers plugin install loads a native library once before installing it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def signed_folder(
    tmp_path: Path, lib: Path, name: str, run_cli: Callable[..., Any], aers_home: Path
) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(lib, folder / f"lib{name.replace('-', '_')}.so")
    manifest = {"name": name, "version": "1.0.0", "kind": "native", "isolation": "in-process",
                "entry": f"lib{name.replace('-', '_')}.so:aers_plugin_entry",
                "description": "a probe", "params": []}  # fmt: skip
    (folder / "manifest.in.json").write_text(json.dumps(manifest), encoding="utf-8")
    if not (aers_home / "keys" / "nat.key.pem").exists():
        assert run_cli("keys", "generate", "nat").code == 0
        assert run_cli("keys", "trust", aers_home / "keys" / "nat.pub.pem", "--scope",
                       "native").code == 0  # fmt: skip
    assert run_cli("plugin", "sign", folder, "--key", aers_home / "keys" / "nat.key.pem").code == 0
    return folder


@pytest.mark.security
@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ("probe_abi2", "built for AERS plugin ABI 2.0.0, this host speaks 1.x"),
        ("probe_nosym", "entry symbol 'aers_plugin_entry' is not exported"),
    ],
)
def test_a_library_no_graph_could_load_is_not_installed(
    tmp_path: Path, aers_home: Path, run_cli: Callable[..., Any], libs: dict[str, Path],
    probe: str, message: str,
) -> None:  # fmt: skip
    folder = signed_folder(tmp_path, libs[probe], "broken-probe", run_cli, aers_home)
    result = run_cli("plugin", "install", folder)
    assert result.code == 1 and message in " ".join(result.err.split()), result.err
    assert not (aers_home / "plugins" / "broken-probe").exists()


def test_a_loadable_library_is_installed(
    tmp_path: Path, aers_home: Path, run_cli: Callable[..., Any], libs: dict[str, Path]
) -> None:
    folder = signed_folder(tmp_path, libs["probe_ok"], "good-probe", run_cli, aers_home)
    assert run_cli("plugin", "install", folder).code == 0
    assert (aers_home / "plugins" / "good-probe" / "manifest.json").exists()
