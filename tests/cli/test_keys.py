"""``aers keys generate|trust|revoke|list`` through the real entry point."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aers_host.plugins import load_keyring


def test_generate_prints_the_key_id_and_writes_0600(aers_home: Path, run_cli) -> None:
    result = run_cli("keys", "generate", "alice", "--out", aers_home / "k")
    assert result.code == 0, result.err
    keyid = result.out.strip()
    private = aers_home / "k" / "alice.key.pem"
    public = aers_home / "k" / "alice.pub.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    raw = serialization.load_pem_public_key(public.read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert keyid == hashlib.sha256(raw).hexdigest()


def test_generate_defaults_to_aers_home_keys(aers_home: Path, run_cli) -> None:
    assert run_cli("keys", "generate", "bob").code == 0
    assert (aers_home / "keys" / "bob.key.pem").exists()


def test_generate_with_passphrase_from_env(
    aers_home: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AERS_TEST_PASS", "s3cret")
    result = run_cli("keys", "generate", "enc", "--passphrase-env", "AERS_TEST_PASS")
    assert result.code == 0
    assert b"ENCRYPTED" in (aers_home / "keys" / "enc.key.pem").read_bytes()


def test_trust_list_revoke(aers_home: Path, run_cli) -> None:
    keyid = run_cli("keys", "generate", "carol").out.strip()
    pub = aers_home / "keys" / "carol.pub.pem"
    trusted = run_cli("keys", "trust", pub, "--scope", "native")
    assert (trusted.code, trusted.out.strip()) == (0, keyid)
    rows = json.loads(run_cli("keys", "list", "--json").out)
    assert rows == [{"keyid": keyid, "name": "carol", "scope": "native",
                     "status": "trusted (native)"}]  # fmt: skip
    assert run_cli("keys", "revoke", keyid).code == 0
    assert json.loads(run_cli("keys", "list", "--json").out)[0]["status"] == "revoked"
    assert keyid in load_keyring().revoked


@pytest.mark.security
def test_trusting_a_revoked_key_is_refused_with_one_line(aers_home: Path, run_cli) -> None:
    keyid = run_cli("keys", "generate", "dave").out.strip()
    run_cli("keys", "revoke", keyid)
    result = run_cli("keys", "trust", aers_home / "keys" / "dave.pub.pem", "--scope", "all")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"error: key {keyid} was revoked; revocation cannot be undone"
    ]


def test_bad_scope_is_a_usage_error(aers_home: Path, run_cli) -> None:
    run_cli("keys", "generate", "erin")
    result = run_cli("keys", "trust", aers_home / "keys" / "erin.pub.pem", "--scope", "root")
    assert result.code == 2


def test_trust_refuses_a_private_key_file(aers_home: Path, run_cli) -> None:
    run_cli("keys", "generate", "frank")
    result = run_cli("keys", "trust", aers_home / "keys" / "frank.key.pem", "--scope", "all")
    assert result.code == 1
    assert "not a PEM public key" in result.err


@pytest.mark.security
def test_a_group_writable_keyring_is_refused_in_one_line_with_the_fix(
    aers_home: Path, run_cli
) -> None:
    assert run_cli("keys", "generate", "me").code == 0
    assert (
        run_cli("keys", "trust", aers_home / "keys" / "me.pub.pem", "--scope", "python").code == 0
    )
    keyring = next(aers_home.rglob("keyring.json"))
    keyring.chmod(0o660)
    result = run_cli("keys", "list")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: {keyring}: the keyring is writable by other users (mode -rw-rw----), "
        f"so it is not trusted; fix with: chmod go-w {keyring}"
    ]
