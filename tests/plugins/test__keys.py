"""Ed25519 keys, key ids, key files and the keyring."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aers_host.errors import TrustError
from aers_host.plugins import Keyring, key_id, load_keyring, save_keyring, write_keypair
from aers_host.plugins._keyring import parse_keyring
from aers_host.plugins._keys import (
    generate_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    sign_bytes,
    signature_valid,
)


def test_key_id_is_sha256_of_the_raw_public_key() -> None:
    key = generate_key()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key_id(key.public_key()) == hashlib.sha256(raw).hexdigest()


def test_write_keypair_private_file_is_0600_and_loads(tmp_path: Path) -> None:
    files = write_keypair("me", tmp_path / "k")
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    key = load_private_key(files.private.read_bytes(), None, source="me")
    public = load_public_key(files.public.read_bytes(), source="me")
    assert key_id(key.public_key()) == key_id(public) == files.keyid
    assert b"PRIVATE KEY" in files.private.read_bytes()  # PKCS#8 PEM


def test_passphrase_protected_key(tmp_path: Path) -> None:
    files = write_keypair("me", tmp_path, b"s3cret")
    assert b"ENCRYPTED PRIVATE KEY" in files.private.read_bytes()
    load_private_key(files.private.read_bytes(), b"s3cret", source="me")
    with pytest.raises(TrustError, match="passphrase"):
        load_private_key(files.private.read_bytes(), None, source="me")
    with pytest.raises(TrustError):
        load_private_key(files.private.read_bytes(), b"wrong", source="me")


@pytest.mark.security
def test_write_keypair_never_overwrites(tmp_path: Path) -> None:
    write_keypair("me", tmp_path)
    with pytest.raises(TrustError, match="already exists"):
        write_keypair("me", tmp_path)


@pytest.mark.security
def test_non_ed25519_key_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(TrustError, match="not an Ed25519"):
        load_public_key(pem, source="ec.pem")


def test_signatures_verify_only_for_the_signed_bytes() -> None:
    key = generate_key()
    sig = sign_bytes(key, b"abc")
    assert signature_valid(key.public_key(), sig, b"abc")
    assert not signature_valid(key.public_key(), sig, b"abd")
    assert not signature_valid(generate_key().public_key(), sig, b"abc")
    assert not signature_valid(key.public_key(), "%%%", b"abc")


def test_keyring_round_trip(tmp_path: Path) -> None:
    key = generate_key()
    ring = Keyring().with_key(public_key_pem(key.public_key()), "native", "n")
    ring = ring.with_revoked("0" * 64)
    save_keyring(ring, tmp_path / "keyring.json")
    again = load_keyring(tmp_path / "keyring.json")
    assert again.keys == ring.keys and again.revoked == ring.revoked
    assert stat.S_IMODE((tmp_path / "keyring.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]  # no temp file left


@pytest.mark.security
def test_revocation_is_sticky() -> None:
    pem = public_key_pem(generate_key().public_key())
    ring = Keyring().with_key(pem, "all", "k")
    keyid = next(iter(ring.keys))
    ring = ring.with_revoked(keyid)
    assert ring.status(keyid) == "revoked"
    with pytest.raises(TrustError, match="revoked"):
        ring.with_key(pem, "all", "k")


@pytest.mark.security
def test_keyring_entry_whose_id_does_not_match_its_key_refused() -> None:
    pem = public_key_pem(generate_key().public_key())
    document = json.loads(Keyring().with_key(pem, "python", "k").to_json())
    (entry,) = document["keys"].values()
    document["keys"] = {"f" * 64: entry}
    with pytest.raises(TrustError, match="does not match"):
        parse_keyring(json.dumps(document).encode())


def test_unknown_scope_refused() -> None:
    with pytest.raises(TrustError, match="scope"):
        Keyring().with_key(public_key_pem(generate_key().public_key()), "root", "k")


def test_missing_keyring_is_empty(tmp_path: Path) -> None:
    assert load_keyring(tmp_path / "none.json") == Keyring()


def test_bad_key_id_cannot_be_revoked() -> None:
    with pytest.raises(TrustError, match="not a key id"):
        Keyring().with_revoked("abc")


def test_private_key_pem_unencrypted_without_passphrase() -> None:
    assert b"ENCRYPTED" not in private_key_pem(generate_key())


@pytest.mark.security
@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_keyring_writable_by_other_users_is_refused_with_a_chmod_hint(
    tmp_path: Path, mode: int
) -> None:
    """Whoever can write the keyring picks which code runs (ssh refuses such key files)."""
    path = tmp_path / "keyring.json"
    save_keyring(
        Keyring().with_key(public_key_pem(generate_key().public_key()), "python", "me"), path
    )
    path.chmod(mode)
    with pytest.raises(TrustError) as info:
        load_keyring(path)
    assert "writable by other users" in str(info.value)
    assert f"chmod go-w {path}" in str(info.value)
    path.chmod(0o644)  # readable by others is fine: public keys are public
    assert len(load_keyring(path).keys) == 1


def _reference_load(pem: bytes) -> bytes:
    """cryptography's own reading of a public PEM, as raw key bytes (the reference)."""
    loaded = serialization.load_pem_public_key(pem)
    return loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_public_keys_read_as_cryptography_reads_them_in_every_layout() -> None:
    """The keyring's own PEM layout is read without cryptography's serialization module;
    other layouts go through it. Either way the key is the one cryptography reads."""
    for _ in range(20):
        pem = public_key_pem(generate_key().public_key())
        for layout in (pem, pem.replace(b"\n", b"\r\n"), pem + b"\n", b"junk\n" + pem):
            assert load_public_key(layout, source="k").public_bytes_raw() == _reference_load(layout)


@pytest.mark.security
@pytest.mark.parametrize(
    "damage",
    [
        lambda der: der[:-1],  # one key byte short
        lambda der: der[:8] + b"\x71" + der[9:],  # OID 1.3.101.113: Ed448, not Ed25519
        lambda der: der + b"\0",  # trailing byte
    ],
)
def test_a_damaged_ed25519_public_key_is_refused_by_cryptography(damage: object) -> None:
    import base64

    pem = public_key_pem(generate_key().public_key())
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    body = base64.b64encode(damage(der))  # type: ignore[operator]
    bad = b"-----BEGIN PUBLIC KEY-----\n" + body + b"\n-----END PUBLIC KEY-----\n"
    with pytest.raises(TrustError, match=r"^k: (not a PEM public key|\w+ is not an Ed25519)"):
        load_public_key(bad, source="k")
