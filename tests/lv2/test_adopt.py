"""``aers plugin adopt`` / ``discover --lv2`` and the trust chain of adopted bundles."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from aers_host import default_registry
from aers_host._nodetype import CheckContext
from aers_host.errors import PluginError
from aers_host.plugins import BrokenPluginType

from .conftest import GAINDELAY_URI, LSP, LSP_BUNDLE, needs_build, needs_lilv, needs_lsp

pytestmark = needs_lilv


@pytest.fixture
def native_key(aers_home: Path, run_cli) -> Path:
    run_cli("keys", "generate", "lv2")
    assert (
        run_cli("keys", "trust", aers_home / "keys" / "lv2.pub.pem", "--scope", "native").code == 0
    )
    return aers_home / "keys" / "lv2.key.pem"


def _adopt(run_cli, bundle: Path, uri: str, key: Path, out: Path, name: str = "gd"):
    return run_cli("plugin", "adopt", bundle, "--uri", uri, "--name", name, "--key", key,
                   "--out", out)  # fmt: skip


@needs_build
def test_adopt_writes_a_signed_folder_hashing_every_ttl_and_so(
    gaindelay_bundle: Path, native_key: Path, tmp_path: Path, run_cli
):
    result = _adopt(run_cli, gaindelay_bundle, GAINDELAY_URI, native_key, tmp_path / "gd")
    assert result.code == 0, result.err
    signed = json.loads((tmp_path / "gd" / "manifest.json").read_text())["signed"]
    assert signed["kind"] == "lv2" and signed["entry"] == "gaindelay.so:lv2_descriptor"
    for name in ("gaindelay.so", "gaindelay.ttl", "manifest.ttl"):
        data = (gaindelay_bundle / name).read_bytes()
        assert signed["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(),
                                         "size": len(data)}  # fmt: skip
    params = {p["name"]: p for p in signed["params"]}
    assert set(params) == {"gain_db", "mode"}  # control inputs only; the latency output is not
    expected = {"default": 0.0, "min": -60.0, "max": 12.0, "unit": "dB"}
    assert params["gain_db"].items() >= expected.items()
    assert params["mode"]["integer"] and len(params["mode"]["enum"]) == 2
    section = signed["lv2"]
    assert section["uri"] == GAINDELAY_URI and section["latency_port"] == 3
    assert (section["audio_in"], section["audio_out"], section["state"]) == ([0], [1], True)
    verified = run_cli("plugin", "verify", tmp_path / "gd")
    assert verified.code == 0 and "(lv2, sandbox)" in verified.out


@needs_build
def test_adopt_refuses_an_unknown_uri_naming_what_the_bundle_declares(
    gaindelay_bundle: Path, native_key: Path, tmp_path: Path, run_cli
):
    result = _adopt(run_cli, gaindelay_bundle, "urn:nope", native_key, tmp_path / "x")
    assert result.code == 1
    assert f"it declares: {GAINDELAY_URI}" in result.err
    assert not (tmp_path / "x").exists()


@needs_lsp
@pytest.mark.security
def test_adopt_refuses_instruments_and_midi_one_line_per_reason(
    native_key: Path, tmp_path: Path, run_cli
):
    result = _adopt(run_cli, LSP_BUNDLE, LSP + "sampler_mono", native_key, tmp_path / "s", "smp")
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert any("is an instrument" in line for line in lines)
    assert any("'in_midi' carries MIDI" in line for line in lines)
    assert not (tmp_path / "s").exists()
    assert not list(tmp_path.glob(".s.*"))  # no staging left behind


@needs_build
@pytest.mark.security
def test_a_key_trusted_for_python_cannot_sign_native_lv2_code(
    gaindelay_bundle: Path, aers_home: Path, tmp_path: Path, run_cli
):
    run_cli("keys", "generate", "py")
    run_cli("keys", "trust", aers_home / "keys" / "py.pub.pem", "--scope", "python")
    key = aers_home / "keys" / "py.key.pem"
    assert _adopt(run_cli, gaindelay_bundle, GAINDELAY_URI, key, tmp_path / "gd").code == 0
    result = run_cli("plugin", "install", tmp_path / "gd", "--no-notify")
    assert result.code == 1
    assert "needs a key trusted for native or all" in result.err


@needs_build
@pytest.mark.security
@pytest.mark.parametrize("victim", ["gaindelay.so", "gaindelay.ttl"])
def test_tampering_with_any_byte_of_the_store_copy_is_refused_before_load(
    gaindelay_bundle: Path, native_key: Path, aers_home: Path, tmp_path: Path, run_cli,
    victim: str,
):  # fmt: skip
    assert _adopt(run_cli, gaindelay_bundle, GAINDELAY_URI, native_key, tmp_path / "gd").code == 0
    assert run_cli("plugin", "install", tmp_path / "gd", "--no-notify").code == 0
    (stored,) = (aers_home / "plugins").rglob(victim) or [None]
    assert stored is not None
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    node = default_registry(entry_points=False)["gd"]
    assert isinstance(node, BrokenPluginType)
    with pytest.raises(PluginError, match=victim.replace(".", r"\.")):
        node.create({}, CheckContext(48000, 64, tmp_path))


@needs_build
def test_discover_lists_installed_plugins_with_their_ports(
    gaindelay_bundle: Path, run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    shutil.copytree(gaindelay_bundle, tmp_path / "lv2" / "gaindelay.lv2")
    monkeypatch.setenv("LV2_PATH", str(tmp_path / "lv2"))
    result = run_cli("plugin", "discover", "--lv2", "--json")
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    expected = {"uri": GAINDELAY_URI, "name": "AERS test gain-delay", "audio_in": 1,
                "audio_out": 1, "params": ["gain_db", "mode"], "adoptable": True}  # fmt: skip
    assert {k: row[k] for k in expected} == expected
    table = run_cli("plugin", "discover", "--lv2")
    assert table.code == 0 and table.err.startswith("1 LV2 plugins")


def test_discover_needs_a_format(run_cli):
    assert run_cli("plugin", "discover").code == 2
