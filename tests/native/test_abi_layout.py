"""The ctypes mirror (_abi.py) matches aers_plugin.h: sizes, offsets, constants, copies."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess

import pytest

from aers_host.native import _abi, include_dir

from .conftest import REPO


def _probe_source() -> str:
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        '#include "aers_plugin.h"',
        "int main(void) {",
        '  printf("{");',
    ]
    for i, (cname, struct) in enumerate(_abi.STRUCTS.items()):
        sep = "," if i else ""
        lines.append(f'  printf("{sep}\\"{cname}\\": {{\\"(sizeof)\\": %zu", sizeof({cname}));')
        for field, _ in struct._fields_:
            cfield = _abi.C_FIELD_NAMES.get(field, field)
            lines.append(f'  printf(", \\"{field}\\": %zu", offsetof({cname}, {cfield}));')
        lines.append('  printf("}");')
    lines += ['  printf("}\\n");', "  return 0;", "}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, int]]:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    tmp = tmp_path_factory.mktemp("abi")
    (tmp / "probe.c").write_text(_probe_source())
    # Compiled as strict C99 with warnings as errors: the header must be plain C too.
    subprocess.run(
        [
            cc,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            f"-I{include_dir()}",
            str(tmp / "probe.c"),
            "-o",
            str(tmp / "probe"),
        ],
        check=True,
    )
    out = subprocess.run([str(tmp / "probe")], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("cname", sorted(_abi.STRUCTS))
def test_struct_size_and_offsets_match_header(c_layout: dict[str, dict[str, int]], cname: str):
    struct = _abi.STRUCTS[cname]
    expected = c_layout[cname]
    assert ctypes.sizeof(struct) == expected["(sizeof)"], cname
    for field, _ in struct._fields_:
        assert getattr(struct, field).offset == expected[field], f"{cname}.{field}"


def test_every_header_struct_is_mirrored():
    header = (REPO / "plugins/include/aers_plugin.h").read_text()
    declared = set(re.findall(r"\}\s*(aers_\w+_t);", header))
    assert declared == set(_abi.STRUCTS)


def test_constants_match_header():
    header = (REPO / "plugins/include/aers_plugin.h").read_text()

    def define(name: str) -> str:
        match = re.search(rf"#define {name} (\S+)", header)
        assert match, name
        return match.group(1)

    assert int(define("AERS_VERSION_MAJOR")) == _abi.VERSION_MAJOR
    assert int(define("AERS_VERSION_MINOR")) == _abi.VERSION_MINOR
    assert int(define("AERS_VERSION_REVISION")) == _abi.VERSION_REVISION
    assert int(define("AERS_NAME_SIZE")) == _abi.NAME_SIZE
    assert int(define("AERS_UNIT_SIZE")) == _abi.UNIT_SIZE
    assert int(define("AERS_MAX_PARAMS")) == _abi.MAX_PARAMS
    assert define("AERS_DEFAULT_ENTRY_SYMBOL").strip('"') == _abi.DEFAULT_ENTRY_SYMBOL
    assert define("AERS_EXT_TAIL").strip('"').encode() == _abi.EXT_TAIL


def test_packaged_headers_are_identical_to_plugins_include():
    source = sorted(p.name for p in (REPO / "plugins/include").iterdir())
    packaged = sorted(p.name for p in include_dir().iterdir())
    assert source == packaged == ["aers_plugin.h", "aers_plugin_util.hpp"]
    for name in source:
        assert (include_dir() / name).read_bytes() == (REPO / "plugins/include" / name).read_bytes()


def test_version_compatibility_rule():
    assert _abi.version_is_compatible(_abi.Version(1, 0, 0))
    assert _abi.version_is_compatible(_abi.Version(1, 7, 3))  # newer minor: extensions only
    assert not _abi.version_is_compatible(_abi.Version(2, 0, 0))
    assert not _abi.version_is_compatible(_abi.Version(0, 9, 0))  # a zeroed struct never passes
    assert str(_abi.Version(1, 2, 3)) == "1.2.3"


def test_public_names_import():
    import aers_host.native as native

    for name in native.__all__:
        assert getattr(native, name) is not None
