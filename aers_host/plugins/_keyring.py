"""The keyring: which public keys the user trusts, for what, and which are revoked.

Invariants:

* A :class:`Keyring` is an immutable snapshot; the verifier reads it and never writes it.
  Changes make a new snapshot that :func:`save_keyring` writes atomically.
* Each trusted key has a scope: ``python`` (sandboxed Python plugins), ``native`` (C++ code
  that runs in-process with full rights) or ``all``. Trust for one never implies the other.
* Revocation is sticky: a revoked key id stays revoked, cannot be trusted again, and a
  signature by it never counts, whatever else the keyring says.
* On load, every key id is recomputed from its public key; a hand-edited entry whose id and
  key disagree is refused rather than believed.
* Keys in the repository's ``keys/`` folder are *not* trusted automatically: trusting a key
  is an explicit ``aers keys trust``, never a side effect of the current directory.

File format (``keyring.json``)::

    {"version": 1,
     "keys": {"<keyid>": {"name": "demo", "scope": "all", "public_key": "-----BEGIN…"}},
     "revoked": ["<keyid>"]}

Example:
    >>> from aers_host.plugins._keys import generate_key, public_key_pem
    >>> ring = Keyring().with_key(public_key_pem(generate_key().public_key()), "python", "me")
    >>> [k.scope for k in ring.keys.values()]
    ['python']
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._files import TooLarge, read_bounded
from .._paths import atomic_write, keyring_path
from ..errors import ManifestError, TrustError
from ._keys import key_id, load_public_key, public_key_pem
from ._manifest import parse_json_strict

Scope = Literal["python", "native", "all"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)
KEYRING_FORMAT: Final = 1
#: Largest keyring file read (thousands of keys fit in a fraction of it).
MAX_KEYRING_BYTES: Final = 16 * 1024 * 1024
_KEYID_RE: Final = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key the user trusts for ``scope``."""

    keyid: str
    name: str
    scope: Scope
    public_pem: str
    public: Ed25519PublicKey = field(compare=False, repr=False)

    def allows(self, kind: str) -> bool:
        """Whether this key may sign a plugin of ``kind`` (``python``, ``native`` or ``lv2``).

        An LV2 plugin is machine code, so it needs the ``native`` scope like AERS-ABI code.
        """
        return self.scope in ("all", "native" if kind == "lv2" else kind)


@dataclass(frozen=True, slots=True)
class Keyring:
    """An immutable snapshot of trusted keys and revoked key ids."""

    keys: Mapping[str, TrustedKey] = field(default_factory=dict)
    revoked: frozenset[str] = frozenset()

    def with_key(self, public_pem: bytes, scope: str, name: str) -> Keyring:
        """A keyring that also trusts ``public_pem`` for ``scope`` (replacing its old scope).

        Raises:
            TrustError: unknown scope, not an Ed25519 public key, or the key was revoked.
        """
        if scope not in SCOPES:
            raise TrustError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        public = load_public_key(public_pem, source=name)
        keyid = key_id(public)
        if keyid in self.revoked:
            raise TrustError(f"key {keyid} was revoked; revocation cannot be undone")
        # Store the key as we re-serialise it, not as given: one canonical PEM per key.
        pem = public_key_pem(public).decode("ascii")
        entry = TrustedKey(keyid, name, cast(Scope, scope), pem, public)
        return replace(self, keys={**self.keys, keyid: entry})

    def with_revoked(self, keyid: str) -> Keyring:
        """A keyring in which ``keyid`` is revoked (it may be unknown: revoke ahead of time).

        Raises:
            TrustError: ``keyid`` is not 64 lowercase hex digits.
        """
        if not _KEYID_RE.match(keyid):
            raise TrustError(f"{keyid!r} is not a key id (64 lowercase hex digits)")
        return replace(self, revoked=self.revoked | {keyid})

    def status(self, keyid: str) -> str:
        """``revoked``, ``trusted (<scope>)`` or ``untrusted``, for listings."""
        if keyid in self.revoked:
            return "revoked"
        key = self.keys.get(keyid)
        return f"trusted ({key.scope})" if key else "untrusted"

    def to_json(self) -> bytes:
        """The file content for this snapshot."""
        document = {
            "version": KEYRING_FORMAT,
            "keys": {
                k.keyid: {"name": k.name, "scope": k.scope, "public_key": k.public_pem}
                for k in sorted(self.keys.values(), key=lambda k: k.keyid)
            },
            "revoked": sorted(self.revoked),
        }
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def parse_keyring(data: bytes, *, source: str = "keyring.json") -> Keyring:
    """Parse keyring file bytes, re-deriving every key id.

    Raises:
        TrustError: malformed file, unknown format version, bad scope, or an id that does
            not match its key.
    """
    try:
        document = parse_json_strict(data, source)
    except ManifestError as err:  # the keyring is trust state, not a manifest: re-home it
        raise TrustError(str(err)) from err
    if not isinstance(document, dict) or document.get("version") != KEYRING_FORMAT:
        raise TrustError(f"{source}: not a keyring of format {KEYRING_FORMAT}")
    keys: dict[str, TrustedKey] = {}
    for keyid, entry in _mapping(document.get("keys", {}), source).items():
        entry = _mapping(entry, source)
        pem = str(entry.get("public_key", "")).encode("utf-8")
        public = load_public_key(pem, source=f"{source}: key {keyid}")
        if key_id(public) != keyid:
            raise TrustError(f"{source}: key {keyid} does not match its public key (edited?)")
        scope = entry.get("scope")
        if scope not in SCOPES:
            raise TrustError(f"{source}: key {keyid} has unknown scope {scope!r}")
        keys[keyid] = TrustedKey(keyid, str(entry.get("name", "")), scope, pem.decode(), public)
    revoked = document.get("revoked", [])
    if not isinstance(revoked, list) or not all(
        isinstance(r, str) and _KEYID_RE.match(r) for r in revoked
    ):
        raise TrustError(f"{source}: 'revoked' must be a list of key ids")
    return Keyring(keys=keys, revoked=frozenset(revoked))


def _mapping(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrustError(f"{source}: expected an object, got {type(value).__name__}")
    return value


def _check_private(path: Path) -> None:
    """Refuse a keyring other users could have written, as ssh refuses such ``authorized_keys``.

    Whoever can write the keyring decides which code runs, so a file writable by group or
    others, or owned by another user (root aside), is not believed.

    Raises:
        FileNotFoundError: there is no keyring yet.
        TrustError: group/other-writable, or another user's file.
    """
    info = path.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise TrustError(
            f"{path}: the keyring is writable by other users (mode {stat.filemode(info.st_mode)}), "
            f"so it is not trusted; fix with: chmod go-w {path}"
        )
    if info.st_uid not in (os.getuid(), 0):
        raise TrustError(
            f"{path}: the keyring belongs to another user (uid {info.st_uid}), so it is not "
            f"trusted; fix with: chown {os.getuid()} {path}"
        )


def load_keyring(path: Path | None = None) -> Keyring:
    """Read the keyring (an empty one when the file does not exist yet).

    Raises:
        TrustError: the file exists but is not a valid keyring, or other users can write
            it (group/other-writable or not the user's own; the message says how to fix).
    """
    path = path or keyring_path()
    try:
        _check_private(path)
        data = read_bounded(path, MAX_KEYRING_BYTES)
    except FileNotFoundError:
        return Keyring()
    except TooLarge as err:
        raise TrustError(f"{path}: over {MAX_KEYRING_BYTES >> 20} MiB, not a keyring") from err
    except OSError as err:
        raise TrustError(f"{path}: cannot read the keyring ({err.strerror})") from err
    return parse_keyring(data, source=str(path))


def save_keyring(keyring: Keyring, path: Path | None = None) -> None:
    """Write the keyring atomically, readable by the user only."""
    atomic_write(path or keyring_path(), keyring.to_json(), mode=0o600)
