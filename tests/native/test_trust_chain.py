"""End to end: a real native library through the trust layer's verifier into the loader.

The verifier (aers_host.plugins, owned by the trust work) decides *whether* a plugin is
trusted; these tests pin the native-specific outcomes of that chain with a real ``.so``:
unsigned, signed by a python-only key, tampered after signing, sandbox isolation — and that
a properly signed plugin loads and runs from the verified bytes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host.errors import HashMismatchError, PluginValidationError, SignatureError
from aers_host.native import load_native_plugin
from aers_host.plugins import Keyring, PluginVerifier, VerifiedPlugin, canonical_bytes, key_id
from aers_host.plugins._keys import generate_key, public_key_pem, sign_bytes
from aers_host.plugins._manifest import build_signed, envelope_bytes

from .conftest import CTX, REPO

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEY = generate_key()
OTHER = generate_key()


def _signed_plugin(
    libs: dict[str, Path], **overrides: Any
) -> tuple[dict[str, Any], dict[str, bytes]]:
    source = json.loads((REPO / "manifests" / "native_eq.json").read_text()) | overrides
    lib = libs["native_eq"]
    files = {
        lib.name: lib.read_bytes(),
        "native_eq.cpp": (lib.parent / "native_eq.cpp").read_bytes(),
    }
    return build_signed(source, files, now=NOW, days=30), files


def _verify(
    signed: dict[str, Any],
    files: dict[str, bytes],
    scope: str,
    signer=KEY,
    signatures: list[dict[str, str]] | None = None,
) -> VerifiedPlugin:
    keyring = Keyring().with_key(public_key_pem(KEY.public_key()), scope, "publisher")
    if signatures is None:
        signatures = [
            {
                "keyid": key_id(signer.public_key()),
                "sig": sign_bytes(signer, canonical_bytes(signed)),
            }
        ]
    manifest = envelope_bytes(signed, signatures)
    return PluginVerifier(keyring, now=NOW + timedelta(hours=1)).verify(manifest, files)


def test_signed_for_native_loads_and_runs(libs: dict[str, Path]):
    plugin = _verify(*_signed_plugin(libs), scope="native")
    proc = load_native_plugin(plugin, {"gain_db": 6.0}, CTX)
    proc.prepare(48000, 64, 2)
    out = np.zeros((2, 64), np.float32)
    proc.process(np.ones((2, 64), np.float32), out, 0, ())
    assert np.isfinite(out).all() and out.any()


@pytest.mark.security
def test_signed_by_python_only_key_is_refused(libs: dict[str, Path]):
    with pytest.raises(SignatureError, match="python only"):
        _verify(*_signed_plugin(libs), scope="python")


@pytest.mark.security
def test_signed_by_untrusted_key_is_refused(libs: dict[str, Path]):
    with pytest.raises(SignatureError):
        _verify(*_signed_plugin(libs), scope="native", signer=OTHER)


@pytest.mark.security
def test_forged_signature_is_refused(libs: dict[str, Path]):
    signed, files = _signed_plugin(libs)
    forged = [{"keyid": key_id(KEY.public_key()), "sig": "A" * 86 + "=="}]
    with pytest.raises(SignatureError):
        _verify(signed, files, scope="native", signatures=forged)


@pytest.mark.security
def test_library_tampered_after_signing_is_refused(libs: dict[str, Path]):
    signed, files = _signed_plugin(libs)
    lib = libs["native_eq"].name
    files[lib] = files[lib][:-1] + bytes([files[lib][-1] ^ 1])
    with pytest.raises(HashMismatchError):
        _verify(signed, files, scope="native")


@pytest.mark.security
def test_native_with_sandbox_isolation_is_refused_by_both_layers(libs: dict[str, Path]):
    signed, files = _signed_plugin(libs, isolation="sandbox")
    with pytest.raises(PluginValidationError):
        _verify(signed, files, scope="native")
