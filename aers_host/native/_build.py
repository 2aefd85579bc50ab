"""``build_plugin``: compile a native plugin folder into ``lib<name>.so``, ready to sign.

Two ways, chosen by what the folder holds:

* ``CMakeLists.txt`` present: ``cmake -S DIR -B <temp> -DCMAKE_BUILD_TYPE=Release
  -DAERS_PLUGIN_INCLUDE_DIR=<include>`` then ``cmake --build``; every ``*.so`` the build
  produces lands in the folder.
* Otherwise every ``*.cpp`` in the folder is compiled and linked in one step:
  ``$CXX -O2 -fPIC -shared -std=c++17 -Wall -Wextra -fvisibility=hidden
  -Wl,--no-undefined -I<include> *.cpp -o lib<name>.so`` (``$CXX`` defaults to ``g++``).

``<include>`` is the copy of ``aers_plugin.h`` shipped inside this package, identical to
``plugins/include`` (a test compares the bytes), so builds work from an installed wheel too.
``<name>`` is the library named by ``manifest.in.json``'s ``entry`` when the folder has one,
else the folder name. Outputs are written to a temporary name and renamed, so a failed build
never leaves a half-written library to be signed. Build errors carry the compiler's message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

from .._files import TooLarge, read_bounded
from ..errors import PluginError
from ..plugins._manifest import DEFAULT_LIMITS

#: Seconds one compiler or cmake invocation may take.
BUILD_TIMEOUT_S: Final = 600
CXX_FLAGS: Final = (
    "-O2",
    "-fPIC",
    "-shared",
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-fvisibility=hidden",
    "-Wl,--no-undefined",
)


def include_dir() -> Path:
    """[any-thread] The packaged folder holding ``aers_plugin.h`` and ``aers_plugin_util.hpp``."""
    return Path(str(resources.files("aers_host.native") / "include"))


def build_plugin(plugin_dir: Path) -> list[Path]:
    """[main-thread] Compile the native plugin in ``plugin_dir``; return the libraries built.

    Args:
        plugin_dir: a folder with ``*.cpp`` sources or a ``CMakeLists.txt``.

    Returns:
        Paths of the shared libraries written into ``plugin_dir``.

    Raises:
        PluginError: no folder or no sources, compiler/cmake missing, or the build failed
            (the message includes the compiler's output).
    """
    plugin_dir = Path(plugin_dir).resolve()
    if not plugin_dir.is_dir():
        raise PluginError(f"{plugin_dir}: not a folder")
    if (plugin_dir / "CMakeLists.txt").is_file():
        return _build_cmake(plugin_dir)
    sources = sorted(p for p in plugin_dir.glob("*.cpp") if p.is_file())
    if not sources:
        raise PluginError(f"{plugin_dir}: no *.cpp sources and no CMakeLists.txt to build")
    target = plugin_dir / _library_name(plugin_dir)
    partial = target.with_name(f".{target.name}.partial")
    cxx = _tool(os.environ.get("CXX", "g++"), "a C++ compiler (set $CXX or install g++)")
    command = [cxx, *CXX_FLAGS, f"-I{include_dir()}", *map(str, sources), "-o", str(partial)]
    try:
        _run(command, plugin_dir, "compile")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return [target]


def _build_cmake(plugin_dir: Path) -> list[Path]:
    cmake = _tool("cmake", "cmake (install it, or remove CMakeLists.txt to build with g++)")
    with tempfile.TemporaryDirectory(prefix="aers-build-") as tmp:
        out_dir = Path(tmp) / "out"
        _run(
            [
                cmake,
                "-S",
                str(plugin_dir),
                "-B",
                str(Path(tmp) / "build"),
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DAERS_PLUGIN_INCLUDE_DIR={include_dir()}",
                f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={out_dir}",
            ],
            plugin_dir,
            "cmake configure",
        )
        _run([cmake, "--build", str(Path(tmp) / "build")], plugin_dir, "cmake build")
        built = sorted(out_dir.rglob("*.so")) if out_dir.is_dir() else []
        if not built:
            raise PluginError(f"{plugin_dir}: the cmake build produced no shared library (*.so)")
        results = []
        for lib in built:
            target = plugin_dir / lib.name
            shutil.copyfile(lib, target.with_name(f".{lib.name}.partial"))
            os.replace(target.with_name(f".{lib.name}.partial"), target)
            results.append(target)
    return results


def _library_name(plugin_dir: Path) -> str:
    source = plugin_dir / "manifest.in.json"
    if source.is_file():
        try:
            text = read_bounded(source, DEFAULT_LIMITS.max_manifest_bytes).decode("utf-8")
            entry = str(json.loads(text).get("entry", ""))
        except (OSError, ValueError, AttributeError, TooLarge) as err:
            raise PluginError(
                f"{source}: cannot read the entry to name the library: {err}"
            ) from err
        lib = entry.split(":", 1)[0]
        if lib.endswith(".so") and "/" not in lib:
            return lib
    return f"lib{plugin_dir.name.replace('-', '_')}.so"


def _tool(name: str, what: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PluginError(f"cannot build native plugins: {name!r} not found; need {what}")
    return found


def _run(command: list[str], cwd: Path, step: str) -> None:
    try:
        # S603: argv list, no shell; the tool path comes from shutil.which and the remaining
        # arguments are fixed flags and paths inside the folder the user asked to build.
        result = subprocess.run(  # noqa: S603
            command, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise PluginError(f"{cwd}: {step} timed out after {BUILD_TIMEOUT_S} s") from err
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise PluginError(f"{cwd}: {step} failed (exit {result.returncode}):\n{output}")
