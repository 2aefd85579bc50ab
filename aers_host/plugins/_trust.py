"""The chain of trust for plugins: bytes in, a VerifiedPlugin or an exact error out (pure).

:class:`PluginVerifier` is AERS's ``TrustedMetadataSet``: it takes the manifest bytes, the
plugin's files as bytes, a keyring snapshot, the installed version (if any) and the current
time, and does no I/O at all. ``_store`` does the reading and writing around it and writes
to disk only after the verifier has accepted the data.

Invariants:

* Nothing is trusted until :meth:`PluginVerifier.verify` returns; it returns only when
  every check passed. A :class:`VerifiedPlugin` holds the very bytes that were hashed, so
  a loader never has to (and must not) open the plugin folder again.
* One valid signature by a trusted, unrevoked key whose scope covers the plugin's kind is
  required (threshold 1). A native plugin runs in-process with the host's full rights, so
  a key trusted only for ``python`` can never admit one.
* Every problem is reported, not just the first, so ``aers plugin verify`` can list them:
  the error raised is the most specific class that covers all of them (``HashMismatchError``
  when only files are wrong, ``TrustError`` when files and signature both are), with one
  problem per line. Parse and schema errors stop early: nothing later can be checked.
* "Same content" for the rollback check ignores ``expires``: re-signing identical files to
  extend validity may keep the version; anything else at an equal version is refused.

Example:
    >>> from datetime import UTC, datetime
    >>> verifier = PluginVerifier(Keyring(), now=datetime.now(UTC))
    >>> verifier.verify(b'{"signed": {}, "signed": {}}', {})
    Traceback (most recent call last):
    ...
    aers_host.errors.ManifestError: manifest.json: duplicate key 'signed' in one JSON object
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final, cast, final

from ..errors import (
    EqualVersionError,
    ExpiredError,
    HashMismatchError,
    PluginError,
    PluginValidationError,
    RollbackError,
    SignatureError,
    TrustError,
)
from ._keyring import Keyring, TrustedKey
from ._keys import signature_valid
from ._manifest import (
    DEFAULT_LIMITS,
    Limits,
    compare_versions,
    host_problems,
    parse_expires,
    parse_manifest,
)
from ._model import Isolation, Manifest, SignedPart, canonical_bytes
from ._verified import VerifiedPlugin

_Problem = tuple[type[PluginError], str]


@dataclass(frozen=True, slots=True)
class InstalledRef:
    """What the store says about an installed plugin, for the rollback check."""

    version: str
    #: :func:`content_digest` of the installed manifest.
    digest: str
    #: True when this is a version floor (``_floors``): that version was installed once and
    #: has since been removed, so nothing older may come back without ``--allow-downgrade``.
    removed: bool = False


def content_digest(signed: SignedPart) -> str:
    """SHA-256 of the canonical ``signed`` part without ``expires`` ("same content")."""
    document = signed.to_dict()
    del document["expires"]
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


@final
class PluginVerifier:
    """Verifies plugins against one keyring snapshot at one instant.

    Args:
        keyring: the trusted and revoked keys to judge signatures by.
        now: the current time (timezone-aware), for expiry.
        reserved: node type names a plugin may not take (the built-ins; at install, also
            the types of pip-installed packages).
        limits: size caps.

    Raises:
        ValueError: ``now`` is naive (a bug in the caller, not bad data).
    """

    __slots__ = ("_keyring", "_limits", "_now", "_reserved")

    def __init__(
        self,
        keyring: Keyring,
        *,
        now: datetime,
        reserved: frozenset[str] = frozenset(),
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("PluginVerifier needs a timezone-aware 'now'")
        self._keyring: Final = keyring
        self._now: Final = now
        self._reserved: Final = reserved
        self._limits: Final = limits

    def verify(
        self,
        manifest_bytes: bytes,
        files: Mapping[str, bytes],
        *,
        installed: InstalledRef | None = None,
    ) -> VerifiedPlugin:
        """Verify one plugin and return it as trusted bytes.

        Steps (docs/plugins.md, "5. Verify"; the ``# Step N`` comments below follow this list):

        1. Call-order precondition: none — a verifier is stateless between calls.
        2. Size caps: the manifest (before parsing) and the files' count and total size.
        3. Hash of the raw manifest against a reference: postponed by design. The manifest
           is the root of its own trust (no outer metadata records its hash); its
           authenticity comes from the signature in step 6, and the files' hashes are
           checked against it right after.
        4. Parse: strict JSON (UTF-8, no duplicate keys, no NaN).
        5. Schema: unknown fields, wrong types, unsafe paths, spec major version.
        6. Signature threshold (1) by a trusted, unrevoked key whose scope covers ``kind``;
           then every file: present, listed, right size, right SHA-256.
        7. No rollback: a lower version than ``installed`` is refused; an equal version
           must have the same content.
        8. Expiry.
        9. Host compatibility: name not reserved, entry listed with the right suffix for its
           kind, native never sandboxed, params consistent (:func:`host_problems`, which
           ``aers plugin sign`` also runs before signing).
        10. Commit: build the :class:`VerifiedPlugin` from the verified bytes.

        Args:
            manifest_bytes: the raw ``manifest.json``.
            files: every other file in the plugin folder, relative path → bytes.
            installed: the installed copy of the same name, when installing over it.

        Returns:
            The verified plugin.

        Raises:
            ManifestError: steps 2 (manifest size), 4 and 5.
            SignatureError: no acceptable signature.
            HashMismatchError: a file missing, unlisted, or with the wrong size or hash.
            RollbackError: older than the installed version.
            EqualVersionError: same version as installed, different content.
            ExpiredError: ``expires`` has passed.
            PluginValidationError: step 9.
            TrustError: problems of several of the kinds above, one per line.
        """
        # Step 1: nothing to check; every input arrives in this call.
        # Step 2: the manifest cap is applied inside parse_manifest before parsing.
        problems: list[_Problem] = self._check_caps(files)
        # Step 3: postponed, see the docstring: the signature authenticates the hashes.
        # Steps 4-5: strict parse and schema; nothing later is meaningful without it.
        manifest = parse_manifest(manifest_bytes, self._limits)
        # Step 6: signature first, then the files against the signed hashes.
        keyid, signature_problems = self._check_signatures(manifest)
        problems += signature_problems
        problems += _check_files(manifest, files)
        # Step 7: rollback and equal-version protection.
        problems += _check_version(manifest, installed)
        # Step 8: expiry.
        if parse_expires(manifest.signed.expires) <= self._now:
            problems.append((ExpiredError, f"manifest expired at {manifest.signed.expires}"))
        # Step 9: what this host can run.
        problems += self._check_host(manifest)
        if problems:
            raise _combine(manifest.name, problems)
        # Step 10: commit — only listed, verified bytes cross into the result.
        signed = manifest.signed
        requested = signed.isolation
        isolation = granted_isolation(manifest.kind, requested, self._keyring.keys[keyid])
        return VerifiedPlugin(
            name=manifest.name,
            version=manifest.version,
            kind=manifest.kind,
            entry=signed.entry,
            isolation=isolation,
            files=MappingProxyType({rel: files[rel] for rel in manifest.files}),
            params=signed.params,
            keyid=keyid,
            manifest=signed,
            requested_isolation=None if isolation == requested else requested,
        )

    def _check_caps(self, files: Mapping[str, bytes]) -> list[_Problem]:
        limits = self._limits
        if len(files) > limits.max_files:
            return [(TrustError, f"{len(files)} files is over the cap of {limits.max_files}")]
        total = sum(len(data) for data in files.values())
        if total > limits.max_total_bytes:
            cap = limits.max_total_bytes
            return [(TrustError, f"{total} bytes of files is over the {cap}-byte cap")]
        return []

    def _check_signatures(self, manifest: Manifest) -> tuple[str, list[_Problem]]:
        """The key id of the first acceptable signature, or every reason none is."""
        message = manifest.canonical()
        reasons: list[_Problem] = []
        for keyid, sig in ((s.keyid, s.sig) for s in manifest.signatures):
            key = self._keyring.keys.get(keyid)
            if keyid in self._keyring.revoked:
                reasons.append((SignatureError, f"signed by revoked key {keyid}"))
            elif key is None:
                reasons.append(
                    (SignatureError, f"signed by untrusted key {keyid} (aers keys trust PUBFILE)")
                )
            elif not key.allows(manifest.kind):
                reasons.append(
                    (
                        SignatureError,
                        f"key {keyid} is trusted for {key.scope} only; a {manifest.kind} plugin "
                        f"needs a key trusted for "
                        f"{'native' if manifest.kind == 'lv2' else manifest.kind} or all",
                    )
                )
            elif not signature_valid(key.public, sig, message):
                reasons.append(
                    (
                        SignatureError,
                        f"signature by key {keyid} does not verify "
                        "(manifest edited after signing, or corrupt signature)",
                    )
                )
            else:
                return keyid, []
        return "", reasons

    def _check_host(self, manifest: Manifest) -> list[_Problem]:
        """Step 9, shared with ``aers plugin sign`` (:func:`host_problems`)."""
        problems = host_problems(manifest.signed, reserved=self._reserved)
        return [(PluginValidationError, p) for p in problems]


def _check_files(manifest: Manifest, files: Mapping[str, bytes]) -> list[_Problem]:
    """Every listed file present with the signed size and hash; nothing unlisted."""
    problems: list[_Problem] = []
    for rel, meta in sorted(manifest.files.items()):
        data = files.get(rel)
        if data is None:
            problems.append((HashMismatchError, f"{rel}: listed in the manifest but missing"))
        elif len(data) != meta.size:
            problems.append(
                (HashMismatchError, f"{rel}: size {len(data)} != {meta.size} in the manifest")
            )
        elif hashlib.sha256(data).hexdigest() != meta.sha256:
            problems.append(
                (HashMismatchError, f"{rel}: sha256 does not match the manifest (modified?)")
            )
    for rel in sorted(set(files) - set(manifest.files)):
        problems.append((HashMismatchError, f"{rel}: not listed in the manifest (extra file)"))
    return problems


def granted_isolation(kind: str, requested: Isolation, key: TrustedKey) -> Isolation:
    """The isolation a plugin runs with by default: the author asks, the user's trust decides.

    In-process Python code has no worker, no OS fences and no deadline: it is as powerful
    as native code. So a manifest's ``in-process`` holds only when the signing key is one
    the user trusts for native code (``native`` or ``all``); a key trusted for ``python``
    alone gets ``sandbox``. The user can still grant in-process for one node in the config
    (node option ``isolation: in-process``). Native plugins always run in-process (their
    key must be trusted for native to verify at all).
    """
    if kind == "python" and requested == "in-process" and not key.allows("native"):
        return "sandbox"
    return requested


def _check_version(manifest: Manifest, installed: InstalledRef | None) -> list[_Problem]:
    if installed is None:
        return []
    order = compare_versions(manifest.version, installed.version)
    if order < 0:
        was = "installed before (removed since)" if installed.removed else "installed"
        return [
            (
                RollbackError,
                f"version {manifest.version} is older than {was} {installed.version} "
                "(rollback refused; `aers plugin remove` keeps this floor, "
                "`aers plugin install --allow-downgrade` lowers it)",
            )
        ]
    if order == 0 and content_digest(manifest.signed) != installed.digest:
        return [
            (
                EqualVersionError,
                f"version {manifest.version} is already installed with different content "
                "(bump the version)",
            )
        ]
    return []


def _combine(name: str, problems: list[_Problem]) -> PluginError:
    """One error for all problems: the most specific class covering them, a line each."""
    classes = [cls for cls, _ in problems]
    common = next(c for c in classes[0].__mro__ if all(issubclass(k, c) for k in classes))
    prefix = f"plugin {name!r}: "
    if issubclass(common, PluginValidationError):
        return PluginValidationError(name, ("\n" + prefix).join(msg for _, msg in problems))
    return cast(type[PluginError], common)("\n".join(prefix + msg for _, msg in problems))
