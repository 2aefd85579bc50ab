"""``build_plugin``: g++ and cmake builds into the plugin folder; errors quote the compiler."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aers_host.errors import PluginError
from aers_host.native import build_plugin, load_native_plugin

from .conftest import CTX, probe_source, verified


def test_build_error_shows_the_compiler_message(tmp_path: Path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "broken.cpp").write_text(
        '#include "aers_plugin.h"\nint f() { return undefined_name; }\n'
    )
    with pytest.raises(PluginError) as info:
        build_plugin(folder)
    assert "compile failed" in str(info.value)
    assert "undefined_name" in str(info.value) and "was not declared" in str(info.value)
    assert list(folder.iterdir()) == [folder / "broken.cpp"]  # no partial library left


def test_build_refuses_folder_without_sources(tmp_path: Path):
    with pytest.raises(PluginError, match=r"no \*\.cpp sources"):
        build_plugin(tmp_path)
    with pytest.raises(PluginError, match="not a folder"):
        build_plugin(tmp_path / "missing")


def test_library_name_follows_manifest_source(tmp_path: Path):
    folder = tmp_path / "my-probe"
    folder.mkdir()
    (folder / "probe.cpp").write_text(probe_source())
    assert build_plugin(folder) == [folder / "libmy_probe.so"]
    (folder / "manifest.in.json").write_text(
        json.dumps({"entry": "libcustom.so:aers_plugin_entry"})
    )
    assert build_plugin(folder) == [folder / "libcustom.so"]


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_build(tmp_path: Path):
    folder = tmp_path / "cmake_probe"
    folder.mkdir()
    (folder / "probe.cpp").write_text(probe_source(latency=7))
    (folder / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\n"
        "project(cmake_probe CXX)\n"
        "add_library(cmake_probe SHARED probe.cpp)\n"
        "set_target_properties(cmake_probe PROPERTIES CXX_STANDARD 17\n"
        "  CXX_VISIBILITY_PRESET hidden)\n"
        "target_include_directories(cmake_probe PRIVATE ${AERS_PLUGIN_INCLUDE_DIR})\n"
    )
    (lib,) = build_plugin(folder)
    assert lib == folder / "libcmake_probe.so"
    proc = load_native_plugin(verified(lib), {}, CTX)
    proc.prepare(48000, 64, 1)
    assert proc.latency_samples == 7


def test_cmake_error_is_reported(tmp_path: Path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    (tmp_path / "CMakeLists.txt").write_text("this is not cmake(\n")
    with pytest.raises(PluginError, match="cmake configure failed"):
        build_plugin(tmp_path)


@pytest.mark.parametrize("name", ["native_reverb", "native_eq"])
def test_examples_compile_without_warnings(tmp_path: Path, name: str):
    import subprocess

    from aers_host.native import include_dir

    source = Path(__file__).resolve().parents[2] / "plugins" / name / f"{name}.cpp"
    result = subprocess.run(
        [
            "g++",
            "-O2",
            "-fPIC",
            "-shared",
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wshadow",
            "-Werror",
            f"-I{include_dir()}",
            str(source),
            "-o",
            str(tmp_path / "x.so"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
