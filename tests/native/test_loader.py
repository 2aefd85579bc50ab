"""Loading from verified bytes, and every refusal of the native loader."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from aers_host.errors import (
    HashMismatchError,
    NativeABIError,
    PluginError,
    PluginValidationError,
)
from aers_host.native import NativeProcessor, load_native_plugin, open_library

from .conftest import CTX, REPO, verified


def test_loads_from_a_sealed_memfd_not_the_plugin_dir(libs: dict[str, Path], tmp_path: Path):
    plugin = verified(libs["native_eq"])
    proc = load_native_plugin(plugin, {"gain_db": 6.0}, CTX)
    assert isinstance(proc, NativeProcessor)
    maps = Path("/proc/self/maps").read_text()
    assert "/memfd:aers-native_eq" in maps
    assert str(libs["native_eq"]) not in maps  # the file on disk was never mapped


def test_file_swapped_after_verification_is_never_read(libs: dict[str, Path], tmp_path: Path):
    original = libs["probe_ok"]
    copy = tmp_path / original.name
    copy.write_bytes(original.read_bytes())
    plugin = verified(copy, name="swapped")
    copy.write_bytes(b"\x7fELF swapped after verification")  # attacker replaces the file
    proc = load_native_plugin(plugin, {}, CTX)
    proc.prepare(48000, 64, 1)
    out = np.zeros((1, 64), np.float32)
    proc.process(np.ones((1, 64), np.float32), out, 0, ())
    assert proc.latency_samples == 64


@pytest.mark.security
def test_refuses_tampered_library_bytes(libs: dict[str, Path]):
    real = libs["native_eq"].read_bytes()
    tampered = real[:-1] + bytes([real[-1] ^ 0xFF])
    with pytest.raises(HashMismatchError, match="does not match its manifest sha256"):
        load_native_plugin(verified(libs["native_eq"], data=tampered), {}, CTX)


@pytest.mark.security
def test_refuses_library_not_listed_in_manifest(libs: dict[str, Path]):
    listed = verified(libs["native_eq"])
    assert listed.manifest is not None
    plugin = dataclasses.replace(listed, manifest=dataclasses.replace(listed.manifest, files={}))
    with pytest.raises(HashMismatchError, match="no sha256 in the manifest"):
        load_native_plugin(plugin, {}, CTX)


@pytest.mark.security
def test_refuses_missing_entry_symbol(libs: dict[str, Path]):
    with pytest.raises(NativeABIError, match="entry symbol 'aers_plugin_entry' is not exported"):
        load_native_plugin(verified(libs["probe_nosym"]), {}, CTX)


@pytest.mark.security
def test_entry_symbol_named_in_manifest_is_used(libs: dict[str, Path]):
    plugin = verified(libs["probe_nosym"], symbol="some_other_entry")
    assert load_native_plugin(plugin, {}, CTX) is not None


@pytest.mark.security
def test_refuses_abi_major_mismatch(libs: dict[str, Path]):
    with pytest.raises(
        NativeABIError, match=r"built for AERS plugin ABI 2\.0\.0, this host speaks 1\.x"
    ):
        load_native_plugin(verified(libs["probe_abi2"]), {}, CTX)


@pytest.mark.security
def test_refuses_invalid_descriptor_params_listing_each(libs: dict[str, Path]):
    with pytest.raises(PluginValidationError) as info:
        load_native_plugin(verified(libs["probe_badparams"]), {}, CTX)
    message = str(info.value)
    assert "duplicate name" in message
    assert "#2 ('')" in message and "name must match" in message
    assert "upside_down" in message and "min <= default <= max" in message
    assert "not_a_number" in message and "finite" in message
    assert "Bad-Name" in message
    assert "duplicate id 0" in message
    assert info.value.plugin_id == "probe_badparams"


@pytest.mark.security
def test_refuses_absurd_param_count(libs: dict[str, Path]):
    with pytest.raises(PluginValidationError, match="declares 100000 parameters"):
        load_native_plugin(verified(libs["probe_toomany"]), {}, CTX)


@pytest.mark.parametrize("mode", ["per-instance", "shared"])
def test_worker_isolation_is_chosen_by_the_node_and_loads_nothing_here(tmp_path: Path, mode: str):
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"signed, but not an ELF file: only a worker may find that out")
    ctx = dataclasses.replace(CTX, node_options={"isolation": mode})
    proc = load_native_plugin(verified(fake), {}, ctx)  # the host dlopens nothing
    assert type(proc).__name__ == "SandboxedProcessor"
    proc.prepare(48000, 128, 1)
    try:  # the worker refuses the bytes: the node fails from the start, named, with why
        assert proc.failed  # type: ignore[attr-defined]
        assert "dlopen of libfake.so failed" in proc.failure_reason  # type: ignore[attr-defined]
    finally:
        proc.close()  # type: ignore[attr-defined]


@pytest.mark.security
def test_refuses_python_kind(libs: dict[str, Path]):
    plugin = dataclasses.replace(verified(libs["native_eq"]), kind="python")
    with pytest.raises(PluginValidationError, match="expected 'native'"):
        open_library(plugin)


@pytest.mark.security
def test_refuses_non_library_bytes(tmp_path: Path):
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"not an ELF file at all")
    with pytest.raises(NativeABIError, match=r"dlopen of libfake\.so failed"):
        load_native_plugin(verified(fake), {}, CTX)


def test_refuses_unknown_and_out_of_range_node_params(libs: dict[str, Path]):
    plugin = verified(libs["native_eq"])
    with pytest.raises(PluginValidationError) as info:
        load_native_plugin(plugin, {"gian_db": 3, "freq": 5.0, "q": "wide"}, CTX)
    message = str(info.value)
    assert "unknown parameter 'gian_db'" in message and "gain_db" in message
    assert "freq=5 is outside [20, 20000] Hz" in message
    assert "q must be a finite number" in message


def test_refuses_manifest_params_the_library_does_not_have(libs: dict[str, Path]):
    params = (
        {"name": "gain_db", "default": 0, "min": -48, "max": 24},
        {"name": "nope", "default": 0, "min": 0, "max": 1},
    )
    with pytest.raises(PluginValidationError) as info:
        load_native_plugin(verified(libs["native_eq"], params=params), {}, CTX)
    assert "'nope' is not in the library's descriptor" in str(info.value)
    assert "range [-48, 24]" in str(info.value)


def test_manifest_defaults_reach_the_plugin(libs: dict[str, Path]):
    params = ({"name": "gain", "default": 0.5, "min": 0, "max": 1},)
    proc = load_native_plugin(verified(libs["probe_ok"], params=params), {}, CTX)
    proc.prepare(48000, 128, 1)
    out = np.zeros((1, 128), np.float32)
    proc.process(np.ones((1, 128), np.float32), out, 0, ())
    assert out[0, 64] == pytest.approx(0.5) and out[0, 63] == 0.0


def test_create_refusing_the_format_is_a_clear_error(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    with pytest.raises(PluginError, match=r"channels=3\) returned NULL"):
        proc.prepare(48000, 512, 3)


def _memfd_inodes() -> set[str]:
    lines = Path("/proc/self/maps").read_text().splitlines()
    return {line.split()[4] for line in lines if "memfd:aers-" in line}


def test_same_library_loads_once(libs: dict[str, Path]):
    load_native_plugin(verified(libs["probe_ok"]), {}, CTX)
    before = _memfd_inodes()
    for _ in range(3):
        load_native_plugin(verified(libs["probe_ok"]), {}, CTX)
    assert _memfd_inodes() == before


def test_extension_lookup(libs: dict[str, Path]):
    reverb = open_library(verified(libs["native_reverb"]))
    eq = open_library(verified(libs["native_eq"]))
    assert reverb.extension(b"aers.tail/1") is not None
    assert reverb.extension(b"aers.tail/2") is None
    assert eq.extension(b"aers.tail/1") is None
    assert reverb.descriptor_id == "org.aers.example.native-reverb"
    assert [p.spec.name for p in reverb.params] == ["room_size", "damping", "wet", "dry", "width"]


@pytest.mark.parametrize("name", ["native_reverb", "native_eq"])
def test_example_manifest_sources_agree_with_descriptors(libs: dict[str, Path], name: str):
    source = json.loads((REPO / "manifests" / f"{name}.json").read_text())
    assert source["kind"] == "native" and source["isolation"] == "in-process"
    lib_file, symbol = source["entry"].split(":")
    assert lib_file == libs[name].name
    plugin = verified(
        libs[name], name=source["name"], symbol=symbol, params=tuple(source["params"])
    )
    library = open_library(plugin)
    declared = {p.spec.name: p.spec for p in library.params}
    for param in source["params"]:
        spec = declared[param["name"]]
        assert (spec.default, spec.min, spec.max, spec.unit) == (
            param["default"],
            param["min"],
            param["max"],
            param["unit"],
        )
    assert load_native_plugin(plugin, {}, CTX) is not None


def test_memfd_is_sealed_against_writes(libs: dict[str, Path]):
    import fcntl

    library = open_library(verified(libs["native_eq"]))
    seals = fcntl.fcntl(library._fd, fcntl.F_GET_SEALS)
    for seal in (fcntl.F_SEAL_WRITE, fcntl.F_SEAL_GROW, fcntl.F_SEAL_SHRINK, fcntl.F_SEAL_SEAL):
        assert seals & seal
    with pytest.raises(PermissionError):
        os.pwrite(library._fd, b"x", 0)
