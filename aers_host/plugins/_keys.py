"""Ed25519 keys: generate, serialise, load, sign and check signatures.

Invariants:

* A key id is ``sha256(raw 32-byte public key).hexdigest()``: it names the key itself, not
  a file or a label, so two copies of one key always agree and a label cannot be spoofed.
* Private keys are PEM PKCS#8, optionally encrypted with a passphrase, and are written
  with mode 0600 by :func:`write_keypair`, which refuses to overwrite an existing key.
* Signatures are base64 (standard alphabet) of the 64-byte Ed25519 signature.
* Functions that take bytes do no I/O; only :func:`write_keypair` touches the disk.

Example:
    >>> key = generate_key()
    >>> sig = sign_bytes(key, b"data")
    >>> public = key.public_key()
    >>> signature_valid(public, sig, b"data"), signature_valid(public, sig, b"x")
    (True, False)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._files import TooLarge, read_bounded
from .._paths import write_new_file
from ..errors import AersError, TrustError

#: Largest key file read: an Ed25519 PEM key is about 120 bytes, 300 when encrypted.
MAX_KEY_FILE_BYTES = 64 * 1024


def generate_key() -> Ed25519PrivateKey:
    """A new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def key_id(public: Ed25519PublicKey) -> str:
    """The key id: SHA-256 of the raw public key bytes, hex."""
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()


def private_key_pem(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PEM PKCS#8 of ``key``, encrypted when a passphrase is given."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_key_pem(public: Ed25519PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo of ``public``."""
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def read_key_file(path: Path, error: type[AersError]) -> bytes:
    """The bytes of a PEM key file, read within :data:`MAX_KEY_FILE_BYTES`.

    Raises:
        error: unreadable, or too large to be a key (``/dev/zero``, a disk image...).
    """
    try:
        return read_bounded(path, MAX_KEY_FILE_BYTES)
    except TooLarge as err:
        raise error(
            f"{path}: too large for a key file (over {MAX_KEY_FILE_BYTES >> 10} KiB; "
            "an Ed25519 PEM key is a few hundred bytes)"
        ) from err
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror})") from err


def load_private_key(data: bytes, passphrase: bytes | None, *, source: str) -> Ed25519PrivateKey:
    """Load a PEM private key, insisting on Ed25519.

    Args:
        data: PEM bytes.
        passphrase: the passphrase, or None for an unencrypted key.
        source: the file name, for messages.

    Raises:
        TrustError: not a PEM private key, wrong or missing passphrase, or not Ed25519.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as err:  # passphrase given for a plain key, or missing for an encrypted one
        hint = "it is encrypted: pass --passphrase" if passphrase is None else "it is not encrypted"
        raise TrustError(f"{source}: cannot load private key ({hint})") from err
    except ValueError as err:
        raise TrustError(
            f"{source}: not a PEM private key, or the passphrase is wrong ({err})"
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise TrustError(f"{source}: {type(key).__name__} is not an Ed25519 private key")
    return key


#: DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410 §4): SEQUENCE
#: { SEQUENCE { OID 1.3.101.112 }, BIT STRING (33 bytes, 0 unused bits) }.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def _canonical_ed25519_pem(data: bytes) -> Ed25519PublicKey | None:
    """The key of a PEM exactly as :func:`public_key_pem` writes it, else None.

    Every keyring entry is such a PEM. Reading it needs no ``serialization`` module (whose
    import, SSH and cipher formats included, costs ~20 ms on every command that builds
    the registry); anything else — other whitespace, another key type, a damaged key —
    goes to cryptography's own loader and its messages.
    """
    lines = data.split(b"\n")
    if lines[:1] != [b"-----BEGIN PUBLIC KEY-----"] or lines[2:] != [
        b"-----END PUBLIC KEY-----",
        b"",
    ]:
        return None
    try:
        der = base64.b64decode(lines[1], validate=True)
    except binascii.Error:
        return None
    if len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(der[len(_ED25519_SPKI_PREFIX) :])
    except ValueError:
        return None


def load_public_key(data: bytes, *, source: str) -> Ed25519PublicKey:
    """Load a PEM public key, insisting on Ed25519.

    Raises:
        TrustError: not a PEM public key, or not Ed25519.
    """
    canonical = _canonical_ed25519_pem(data)
    if canonical is not None:
        return canonical
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as err:
        raise TrustError(f"{source}: not a PEM public key ({err})") from err
    if not isinstance(key, Ed25519PublicKey):
        raise TrustError(f"{source}: {type(key).__name__} is not an Ed25519 public key")
    return key


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> str:
    """Base64 Ed25519 signature of ``data``."""
    return base64.b64encode(key.sign(data)).decode("ascii")


def signature_valid(public: Ed25519PublicKey, sig_b64: str, data: bytes) -> bool:
    """Whether ``sig_b64`` is a valid signature of ``data`` by ``public`` (never raises)."""
    try:
        raw = base64.b64decode(sig_b64, validate=True)
        public.verify(raw, data)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    """Where :func:`write_keypair` put a new key."""

    private: Path
    public: Path
    keyid: str


def write_keypair(name: str, out_dir: Path, passphrase: bytes | None = None) -> KeyPairFiles:
    """Generate a key and write ``NAME.key.pem`` (0600) and ``NAME.pub.pem`` into ``out_dir``.

    The private file is created with ``O_EXCL`` and mode 0600 from the start, so it is never
    readable by others, not even for an instant, and an existing key is never overwritten.

    Raises:
        TrustError: a key of that name already exists, or the name is not a plain file name.
    """
    if not name or "/" in name or name.startswith(".") or "\x00" in name:
        raise TrustError(f"key name {name!r} must be a plain file name")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = generate_key()
    private_path = out_dir / f"{name}.key.pem"
    public_path = out_dir / f"{name}.pub.pem"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise TrustError(f"{path} already exists; choose another name or --out folder")
    write_new_file(private_path, private_key_pem(key, passphrase), 0o600)
    write_new_file(public_path, public_key_pem(key.public_key()), 0o644)
    return KeyPairFiles(private_path, public_path, key_id(key.public_key()))
