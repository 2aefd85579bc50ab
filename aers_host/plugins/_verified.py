"""The value that crosses from the chain of trust to the loaders.

Loaders (sandbox, native) receive a ``VerifiedPlugin`` — the plugin's files as the bytes
that were hashed and whose signature verified — and never open the plugin's directory
again. That is what makes a file swapped after verification harmless: it is never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._model import Isolation, ManifestParam, PluginKind, SignedPart


@dataclass(frozen=True, slots=True)
class VerifiedPlugin:
    """A plugin whose manifest signature and every file hash have been checked.

    Attributes:
        name: manifest name, also the node ``type`` it provides.
        version: manifest version string ("1.2.0").
        kind: ``python``, ``native`` or ``lv2``.
        entry: ``file.py:Class`` or ``libname.so:symbol``.
        isolation: ``sandbox`` or ``in-process``: the default the *user's* trust allows.
            A Python plugin's manifest may ask for ``in-process``, but only a signing key
            trusted for native code (scope ``native`` or ``all``) grants it; otherwise it
            is ``sandbox`` (the user may still grant it per node: docs/plugins.md).
        files: relative path → verified bytes (the only copy loaders may use).
        params: the manifest's declared parameters, typed (:class:`~._model.ManifestParam`).
        keyid: the key id whose signature verified.
        manifest: the whole ``signed`` part, typed, for reports, reloads and the native
            loader's own hash check; None for a plugin assembled without a manifest (a
            library being described before it is signed, tests).
        requested_isolation: what the manifest asked for, when it differs from
            ``isolation`` (None: the same).
    """

    name: str
    version: str
    kind: PluginKind
    entry: str
    isolation: Isolation
    files: Mapping[str, bytes]
    params: tuple[ManifestParam, ...] = ()
    keyid: str = ""
    manifest: SignedPart | None = None
    requested_isolation: Isolation | None = None

    @property
    def entry_file(self) -> str:
        """The file part of ``entry``."""
        return self.entry.split(":", 1)[0]

    @property
    def entry_symbol(self) -> str:
        """The class or symbol part of ``entry``."""
        return self.entry.split(":", 1)[1] if ":" in self.entry else ""

    @property
    def param_dicts(self) -> list[dict[str, object]]:
        """``params`` as the JSON objects the manifest holds: what crosses to a worker."""
        return [p.to_dict() for p in self.params]

    @property
    def lv2_section(self) -> Mapping[str, object] | None:
        """The manifest's ``lv2`` object (kind lv2), None when there is none."""
        return self.manifest.lv2 if self.manifest is not None else None

    def entry_bytes(self) -> bytes:
        """The verified bytes of the entry file."""
        return self.files[self.entry_file]
