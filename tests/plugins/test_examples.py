"""The example plugins in plugins/ with their manifest sources in manifests/, and the scaffold."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from plugin_fakes import Publisher
from RestrictedPython import compile_restricted_exec

from aers_host import builtin_names
from aers_host._nodetype import CheckContext
from aers_host.plugins import PluginStore, StorePluginType, read_plugin_dir
from aers_host.plugins._manifest import prepare_signed, seal
from aers_host.plugins._scaffold import scaffold_files

ROOT = Path(__file__).resolve().parents[2]
TREMOLO = ROOT / "plugins" / "tremolo"


def signed_copy(publisher: Publisher, source_dir: Path, manifest_source: Path, dest: Path) -> Path:
    """Copy an example like scripts/demo_plugins.sh does, then sign it."""
    shutil.copytree(source_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copyfile(manifest_source, dest / "manifest.in.json")
    files = read_plugin_dir(dest).files
    signed = prepare_signed(files["manifest.in.json"], files,
                            now=datetime.now(UTC), days=1, reserved=builtin_names())  # fmt: skip
    data = seal(signed, publisher.key)
    (dest / "manifest.json").write_bytes(data)
    return dest


def load_module(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tremolo_own_tests_pass() -> None:
    module = load_module(TREMOLO / "test_tremolo.py")
    tests = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    assert len(tests) >= 4
    for test in tests:
        test()


@pytest.mark.parametrize("source", [TREMOLO / "tremolo.py"], ids=["tremolo"])
def test_example_compiles_under_restricted_python(source: Path) -> None:
    result = compile_restricted_exec(source.read_text(), str(source))
    assert result.errors == ()


def test_every_manifest_source_has_a_plugin_folder() -> None:
    for source in sorted((ROOT / "manifests").glob("*.json")):
        document = json.loads(source.read_text())
        assert document["name"] == source.stem
        assert (ROOT / "plugins" / source.stem).is_dir(), source


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["in-process", "sandbox"])
def test_tremolo_runs_from_the_store_through_the_python_loader(
    tmp_path: Path, publisher: Publisher, isolation: str
) -> None:
    pytest.importorskip("aers_host.sandbox")
    folder = signed_copy(publisher, TREMOLO, ROOT / "manifests" / "tremolo.json", tmp_path / "t")
    store = PluginStore(tmp_path / "store", keyring=publisher.keyring("python"),
                        reserved=builtin_names())  # fmt: skip
    node = StorePluginType.of(store.install(folder))
    assert [s.name for s in node.param_specs()] == ["rate_hz", "depth"]
    # A generous deadline: a loaded CI machine must not turn this into a bypass block.
    options = {"isolation": isolation, "deadline_ms": 5000, "fallback": "silence"}
    ctx = CheckContext(48000, 256, tmp_path, node_id="trem", node_options=options)
    processor = node.create({"rate_hz": 10.0, "depth": 1.0}, ctx)
    processor.prepare(48000, 256, 1)
    try:
        inp = np.ones((1, 256), np.float32)
        out = np.full_like(inp, 7.0)
        processor.process(inp, out, 2400, ())
    finally:
        close = getattr(processor, "close", None)
        if close:
            close()
    assert abs(out[0, 0]) < 1e-6  # sample 2400 is the bottom of a 10 Hz cycle at depth 1
    assert 0.0 < out[0, 255] < 1.0  # and the LFO rises again: the plugin ran, not a fallback


def test_python_scaffold_is_a_working_plugin(tmp_path: Path) -> None:
    for rel, text in scaffold_files("fuzz-box", "python").items():
        (tmp_path / rel).write_text(text)
    assert compile_restricted_exec((tmp_path / "fuzz_box.py").read_text()).errors == ()
    load_module(tmp_path / "test_fuzz_box.py").test_minus_six_db_halves_the_level()  # type: ignore[attr-defined]
    source = json.loads((tmp_path / "manifest.in.json").read_text())
    assert source["entry"] == "fuzz_box.py:FuzzBox" and source["isolation"] == "sandbox"


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_native_scaffold_compiles_against_the_abi_header(tmp_path: Path) -> None:
    files = scaffold_files("fuzz-box", "native")
    (tmp_path / "fuzz_box.cpp").write_text(files["fuzz_box.cpp"])
    assert json.loads(files["manifest.in.json"])["entry"] == "libfuzz_box.so:aers_plugin_entry"
    result = subprocess.run(
        ["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
         f"-I{ROOT / 'plugins' / 'include'}", str(tmp_path / "fuzz_box.cpp")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
