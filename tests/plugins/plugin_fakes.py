"""An in-memory plugin publisher (a RepositorySimulator-style fake) and store fixtures.

Every test makes its own ephemeral Ed25519 key; nothing here reads the user's keyring.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aers_host.plugins import Keyring, PluginStore, canonical_bytes, key_id
from aers_host.plugins._keys import generate_key, public_key_pem, sign_bytes
from aers_host.plugins._manifest import build_signed, envelope_bytes

#: The fixed "now" of these tests; manifests are signed at NOW and valid for 30 days.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

PY_SOURCE = b"class Fx:\n    def process(self, inp, out, start, events):\n        out[:] = inp\n"


@dataclass
class Publisher:
    """Builds plugins and signs manifests with its own key, in memory or on disk."""

    key: Any = field(default_factory=generate_key)

    @property
    def keyid(self) -> str:
        return key_id(self.key.public_key())

    @property
    def public_pem(self) -> bytes:
        return public_key_pem(self.key.public_key())

    def keyring(self, scope: str = "all") -> Keyring:
        return Keyring().with_key(self.public_pem, scope, "test")

    def files(self, kind: str = "python") -> dict[str, bytes]:
        if kind == "native":
            return {"libfx.so": b"\x7fELF fake", "fx.cpp": b"// source\n"}
        return {"fx.py": PY_SOURCE, "README.txt": b"docs\n"}

    def signed(
        self,
        name: str = "fx",
        version: str = "1.0.0",
        kind: str = "python",
        days: int = 30,
        **extra: Any,
    ) -> dict[str, Any]:
        entry = "libfx.so:aers_plugin_entry" if kind == "native" else "fx.py:Fx"
        source = {
            "name": name,
            "version": version,
            "kind": kind,
            "entry": entry,
            "params": [{"name": "depth", "default": 0.5, "min": 0.0, "max": 1.0}],
            **extra,
        }
        return build_signed(source, self.files(kind), now=NOW, days=days)

    def seal(self, signed: dict[str, Any], *, sig: str | None = None) -> bytes:
        """manifest.json bytes for ``signed`` (a forged ``sig`` when given)."""
        signature = sig if sig is not None else sign_bytes(self.key, canonical_bytes(signed))
        return envelope_bytes(signed, [{"keyid": self.keyid, "sig": signature}])

    def publish(self, **kw: Any) -> tuple[bytes, dict[str, bytes]]:
        kind = kw.get("kind", "python")
        return self.seal(self.signed(**kw)), self.files(kind)

    def write(self, root: Path, manifest: bytes, files: dict[str, bytes], name: str = "fx") -> Path:
        folder = root / f"src-{name}-{len(list(root.glob('src-*')))}"
        folder.mkdir(parents=True)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        (folder / "manifest.json").write_bytes(manifest)
        return folder

    def plugin_dir(self, root: Path, **kw: Any) -> Path:
        manifest, files = self.publish(**kw)
        return self.write(root, manifest, files, kw.get("name", "fx"))


def edit(manifest: bytes, change: Any) -> bytes:
    """Apply ``change(document)`` to a parsed manifest and serialise it again."""
    document = json.loads(manifest)
    change(document)
    return json.dumps(document).encode()


def deep(signed: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(signed)


def store_listing(store: PluginStore) -> list[str]:
    """Everything in the store folder, hidden staging/trash folders included.

    Not the lock nor the version floors: trust state that outlives installs, tested apart.
    """
    if not store.root.exists():
        return []
    paths = (str(p.relative_to(store.root)) for p in store.root.rglob("*"))
    return sorted(p for p in paths if p not in (".lock", ".floors.json"))
