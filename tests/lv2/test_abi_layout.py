"""The ctypes mirror of the LV2 structs matches Debian's ``lv2-dev`` headers byte for byte."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest

from aers_host.lv2 import _abi

from .conftest import needs_build

PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include <lv2/atom/atom.h>
#include <lv2/core/lv2.h>
#include <lv2/options/options.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#define F(T, f) printf(#T "." #f " %zu\n", offsetof(T, f))
#define S(T) printf(#T " %zu\n", sizeof(T))
int main(void) {
  S(LV2_Descriptor); F(LV2_Descriptor, instantiate); F(LV2_Descriptor, run);
  F(LV2_Descriptor, extension_data);
  S(LV2_Feature); F(LV2_Feature, data);
  S(LV2_URID_Map); F(LV2_URID_Map, map); S(LV2_URID_Unmap); F(LV2_URID_Unmap, unmap);
  S(LV2_Options_Option); F(LV2_Options_Option, key); F(LV2_Options_Option, type);
  F(LV2_Options_Option, value);
  S(LV2_State_Interface); F(LV2_State_Interface, restore);
  S(LV2_Atom_Sequence); F(LV2_Atom_Sequence, body);
  return 0;
}
"""
MIRRORS = {
    "LV2_Descriptor": _abi.Descriptor, "LV2_Feature": _abi.Feature,
    "LV2_URID_Map": _abi.UridMap, "LV2_URID_Unmap": _abi.UridUnmap,
    "LV2_Options_Option": _abi.Option, "LV2_State_Interface": _abi.StateInterface,
    "LV2_Atom_Sequence": _abi.AtomSequenceHeader,
}  # fmt: skip
FIELDS = {"body": "unit"}  # the sequence body begins with its unit field


@needs_build
def test_every_mirrored_struct_has_the_header_layout(tmp_path: Path):
    (tmp_path / "probe.c").write_text(PROBE)
    subprocess.run(["gcc", "-o", str(tmp_path / "probe"), str(tmp_path / "probe.c")],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    lines = subprocess.run([str(tmp_path / "probe")], check=True, capture_output=True,
                           text=True).stdout.split("\n")  # fmt: skip
    checked = 0
    for line in filter(None, lines):
        what, number = line.split()
        struct, _, field = what.partition(".")
        mirror = MIRRORS[struct]
        if field:
            actual = getattr(mirror, FIELDS.get(field, field)).offset
        else:
            actual = ctypes.sizeof(mirror)
        assert actual == int(number), what
        checked += 1
    assert checked == 18  # every line of the probe


@pytest.mark.parametrize(
    "uri",
    sorted(
        _abi.SUPPORTED_FEATURES
        - {"http://lv2plug.in/ns/lv2core#hardRTCapable", "http://lv2plug.in/ns/lv2core#isLive"}
    ),
)
def test_every_supported_feature_is_offered_to_instantiate(uri: str):
    features = _abi.HostFeatures(48_000, 512, 8192)
    array = (ctypes.c_void_p * 5).from_address(features.address)
    offered = [_abi.Feature.from_address(a).URI.decode() for a in array if a]
    assert uri in offered
