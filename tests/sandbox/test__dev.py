"""A plugin's own tests load it as the sandbox does (issue 21, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aers_host.errors import PluginValidationError
from aers_host.plugins._scaffold import scaffold_files
from aers_host.sandbox import load_plugin_dir


def _folder(tmp_path: Path, kind: str = "python") -> Path:
    folder = tmp_path / "fx"
    folder.mkdir()
    for rel, text in scaffold_files("fx", kind).items():
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def test_scaffold_loads_and_runs_with_the_manifest_defaults(tmp_path: Path) -> None:
    plugin = load_plugin_dir(_folder(tmp_path), {"gain_db": -20.0})
    plugin.prepare(48000, 16, 1)
    out = np.zeros((1, 16), np.float32)
    plugin.process_block(np.ones((1, 16), np.float32), out, 0, ())
    assert np.allclose(out, 0.1, atol=1e-6)  # -20 dB, computed by the plugin in the sandbox rules


def test_code_the_sandbox_refuses_is_refused_with_every_problem(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    source = (folder / "fx.py").read_text()
    source = source.replace("import math\n", "import math\nimport os\n")
    source = source.replace("self.sample_rate = sample_rate", "self._rate = sample_rate")
    (folder / "fx.py").write_text(source)
    with pytest.raises(PluginValidationError) as info:
        load_plugin_dir(folder)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "import os" in lines[0] and "_rate" in lines[1]


def test_a_native_folder_is_not_loaded_here(tmp_path: Path) -> None:
    with pytest.raises(PluginValidationError, match="native plugin"):
        load_plugin_dir(_folder(tmp_path, "native"))


def test_the_manifest_source_is_checked_as_sign_checks_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    source = json.loads((folder / "manifest.in.json").read_text())
    source["entry"] = "missing.py:Fx"
    (folder / "manifest.in.json").write_text(json.dumps(source))
    with pytest.raises(Exception, match=r"missing\.py"):
        load_plugin_dir(folder)
