"""The manifest as typed values: :class:`Manifest`, :class:`SignedPart` and their parts (pure).

python-tuf's ``Metadata``/``Root`` are the model: each part of ``manifest.json`` is a frozen
class with ``from_dict``/``to_dict``, and code that verifies or loads a plugin reads
attributes (``signed.entry``, ``signed.files[rel].sha256``), never ``signed["entry"]``, so a
misspelt field is a type error, not a ``KeyError`` at run time.

Invariants:

* **Lossless.** ``to_dict(from_dict(x)) == x`` for every part: optional fields absent in
  ``x`` stay absent, numbers keep their JSON type, and fields this host does not know are
  kept in ``unrecognized_fields`` and written back. The signature covers the canonical bytes
  of ``SignedPart.to_dict()``, so those bytes are exactly the ones the publisher signed.
* **Policy lives in the schema.** Whether unknown fields are *acceptable* is not decided
  here: spec 1.x refuses them in every part of a signed manifest, and verification step 5
  (``manifest.schema.json``, run by ``_manifest.parse_manifest`` before ``from_dict``)
  refuses them with the field's path (docs/plugins.md, "Unknown fields"). ``from_dict``
  itself checks only what it needs to build typed values: each required field present
  with its JSON type, and refuses otherwise naming the field path.

Example:
    >>> record = FileRecord.from_dict({"sha256": "ab" * 32, "size": 3}, "signed.files.a.py")
    >>> record.size, record.to_dict() == {"sha256": "ab" * 32, "size": 3}
    (3, True)
    >>> FileRecord.from_dict({"sha256": "ab" * 32}, "signed.files.a.py")
    Traceback (most recent call last):
    ...
    aers_host.errors.ManifestError: manifest.json: signed.files.a.py.size: required field missing
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Final, Literal, TypeVar, cast, get_args

import rfc8785

from ..errors import ManifestError

PluginKind = Literal["python", "native", "lv2"]
Isolation = Literal["sandbox", "in-process"]

#: A parsed JSON object: what ``from_dict`` takes and ``to_dict`` returns.
JsonObject = Mapping[str, object]

_MANIFEST_FILE: Final = "manifest.json"
_T = TypeVar("_T")
_EMPTY: Final[Mapping[str, object]] = MappingProxyType({})


def canonical_bytes(signed: Mapping[str, object]) -> bytes:
    """RFC 8785 canonical JSON of ``signed``: sorted keys, no whitespace, UTF-8."""
    # rfc8785 types its input as its own JSON union; parsed JSON is that by construction.
    return bytes(rfc8785.dumps(cast("Mapping[str, rfc8785._impl._Value]", signed)))


def _refuse(path: str, why: str) -> ManifestError:
    return ManifestError(f"{_MANIFEST_FILE}: {path}: {why}")


def _object(value: object, path: str) -> JsonObject:
    """``value`` as a JSON object, or a refusal naming ``path``."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _refuse(path, "must be an object")
    return cast(JsonObject, value)


def _array(value: object, path: str) -> list[object]:
    if not isinstance(value, list):
        raise _refuse(path, "must be an array")
    return value


def _typed(value: object, kind: type[_T], path: str) -> _T:
    """``value`` when it has JSON type ``kind`` (a bool is not a number here)."""
    if isinstance(value, bool) and kind is not bool:
        raise _refuse(path, f"must be {_JSON_NAMES[kind]}, got a boolean")
    if not isinstance(value, kind):
        raise _refuse(path, f"must be {_JSON_NAMES[kind]}, got {type(value).__name__}")
    return value


_JSON_NAMES: Final[Mapping[type, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
}


def _required(data: JsonObject, key: str, kind: type[_T], path: str) -> _T:
    if key not in data:
        raise _refuse(f"{path}.{key}", "required field missing")
    return _typed(data[key], kind, f"{path}.{key}")


def _optional(data: JsonObject, key: str, kind: type[_T], path: str) -> _T | None:
    return None if key not in data else _typed(data[key], kind, f"{path}.{key}")


def _number(data: JsonObject, key: str, path: str) -> float:
    """A JSON number, kept as parsed (``1`` stays an int) so ``to_dict`` gives it back."""
    if key not in data:
        raise _refuse(f"{path}.{key}", "required field missing")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(f"{path}.{key}", "must be a number")
    return value


def _choice(data: JsonObject, key: str, allowed: tuple[str, ...], path: str) -> str:
    value = _required(data, key, str, path)
    if value not in allowed:
        raise _refuse(f"{path}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _unrecognized(data: JsonObject, known: Iterable[str]) -> Mapping[str, object]:
    """The fields of ``data`` outside ``known``, kept for ``to_dict`` (read-only)."""
    extra = {k: v for k, v in data.items() if k not in set(known)}
    return MappingProxyType(extra) if extra else _EMPTY


def _with_present(fields: Mapping[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    """``fields`` without the absent (None) optional ones, plus the unrecognized fields."""
    return {**extra, **{k: v for k, v in fields.items() if v is not None}}


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One entry of ``signed.files``: what the signer measured of a file."""

    #: Lowercase hex SHA-256 of the file's bytes.
    sha256: str
    #: The file's size in bytes.
    size: int
    #: Fields spec 1.x does not define (refused by verification; kept for round trips).
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = ("sha256", "size")

    @classmethod
    def from_dict(cls, data: object, path: str) -> FileRecord:
        """Build from parsed JSON; ``path`` names it in refusals (``signed.files.a.py``).

        Raises:
            ManifestError: not an object, or ``sha256``/``size`` missing or mistyped.
        """
        obj = _object(data, path)
        return cls(
            sha256=_required(obj, "sha256", str, path),
            size=_required(obj, "size", int, path),
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON object this record was built from."""
        return _with_present({"sha256": self.sha256, "size": self.size}, self.unrecognized_fields)


@dataclass(frozen=True, slots=True)
class EnumChoice:
    """One labelled value of an enumerated parameter (``params[i].enum[j]``)."""

    value: float
    label: str
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = ("value", "label")

    @classmethod
    def from_dict(cls, data: object, path: str) -> EnumChoice:
        """Build from parsed JSON.

        Raises:
            ManifestError: not an object, or ``value``/``label`` missing or mistyped.
        """
        obj = _object(data, path)
        return cls(
            value=_number(obj, "value", path),
            label=_required(obj, "label", str, path),
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON object this choice was built from."""
        return _with_present({"value": self.value, "label": self.label}, self.unrecognized_fields)


@dataclass(frozen=True, slots=True)
class ManifestParam:
    """One declared parameter (``signed.params[i]``); None means the field is absent."""

    name: str
    default: float
    min: float
    max: float
    unit: str | None = None
    doc: str | None = None
    integer: bool | None = None
    toggle: bool | None = None
    enum: tuple[EnumChoice, ...] | None = None
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = (
        "name",
        "default",
        "min",
        "max",
        "unit",
        "doc",
        "integer",
        "toggle",
        "enum",
    )

    @classmethod
    def from_dict(cls, data: object, path: str) -> ManifestParam:
        """Build from parsed JSON.

        Raises:
            ManifestError: not an object, or a field missing or of the wrong JSON type.
        """
        obj = _object(data, path)
        enum = None
        if "enum" in obj:
            items = _array(obj["enum"], f"{path}.enum")
            enum = tuple(EnumChoice.from_dict(e, f"{path}.enum.{i}") for i, e in enumerate(items))
        return cls(
            name=_required(obj, "name", str, path),
            default=_number(obj, "default", path),
            min=_number(obj, "min", path),
            max=_number(obj, "max", path),
            unit=_optional(obj, "unit", str, path),
            doc=_optional(obj, "doc", str, path),
            integer=_optional(obj, "integer", bool, path),
            toggle=_optional(obj, "toggle", bool, path),
            enum=enum,
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON object this parameter was built from."""
        fields: dict[str, object] = {
            "name": self.name,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "unit": self.unit,
            "doc": self.doc,
            "integer": self.integer,
            "toggle": self.toggle,
            "enum": None if self.enum is None else [e.to_dict() for e in self.enum],
        }
        return _with_present(fields, self.unrecognized_fields)


@dataclass(frozen=True, slots=True)
class SignedPart:
    """The ``signed`` object: everything the signatures cover (docs/plugins.md, "4. Sign").

    ``lv2`` stays a JSON object here: :class:`aers_host.lv2.Lv2Section` is its typed reader,
    and only the lv2 loader needs it.
    """

    spec_version: str
    name: str
    version: str
    kind: PluginKind
    entry: str
    isolation: Isolation
    files: Mapping[str, FileRecord]
    params: tuple[ManifestParam, ...]
    permissions: tuple[object, ...]
    expires: str
    description: str | None = None
    lv2: Mapping[str, object] | None = None
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = (
        "spec_version", "name", "version", "kind", "entry", "isolation", "files", "params",
        "permissions", "expires", "description", "lv2",
    )  # fmt: skip

    @classmethod
    def from_dict(cls, data: object, path: str = "signed") -> SignedPart:
        """Build from the parsed ``signed`` object.

        Raises:
            ManifestError: not an object, or a field missing or of the wrong JSON type, named
                by its path (``signed.files.a.py.size``).
        """
        obj = _object(data, path)
        for key in ("files", "params", "permissions"):
            if key not in obj:
                raise _refuse(f"{path}.{key}", "required field missing")
        files = _object(obj["files"], f"{path}.files")
        params = _array(obj["params"], f"{path}.params")
        permissions = _array(obj["permissions"], f"{path}.permissions")
        lv2 = _object(obj["lv2"], f"{path}.lv2") if "lv2" in obj else None
        return cls(
            spec_version=_required(obj, "spec_version", str, path),
            name=_required(obj, "name", str, path),
            version=_required(obj, "version", str, path),
            kind=cast(PluginKind, _choice(obj, "kind", get_args(PluginKind), path)),
            entry=_required(obj, "entry", str, path),
            isolation=cast(Isolation, _choice(obj, "isolation", get_args(Isolation), path)),
            files=MappingProxyType(
                {
                    rel: FileRecord.from_dict(rec, f"{path}.files.{rel}")
                    for rel, rec in files.items()
                }
            ),
            params=tuple(
                ManifestParam.from_dict(p, f"{path}.params.{i}") for i, p in enumerate(params)
            ),
            permissions=tuple(permissions),
            expires=_required(obj, "expires", str, path),
            description=_optional(obj, "description", str, path),
            lv2=None if lv2 is None else MappingProxyType(dict(lv2)),
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The ``signed`` object this part was built from (what the signatures cover)."""
        fields: dict[str, object] = {
            "spec_version": self.spec_version,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "entry": self.entry,
            "isolation": self.isolation,
            "files": {rel: record.to_dict() for rel, record in self.files.items()},
            "params": [p.to_dict() for p in self.params],
            "permissions": list(self.permissions),
            "expires": self.expires,
            "description": self.description,
            "lv2": None if self.lv2 is None else dict(self.lv2),
        }
        return _with_present(fields, self.unrecognized_fields)

    @property
    def entry_file(self) -> str:
        """The file part of ``entry`` (``tremolo.py`` of ``tremolo.py:Tremolo``)."""
        return self.entry.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Signature:
    """One entry of ``signatures``: a key id and a base64 Ed25519 signature."""

    keyid: str
    sig: str
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = ("keyid", "sig")

    @classmethod
    def from_dict(cls, data: object, path: str) -> Signature:
        """Build from parsed JSON.

        Raises:
            ManifestError: not an object, or ``keyid``/``sig`` missing or not strings.
        """
        obj = _object(data, path)
        return cls(
            keyid=_required(obj, "keyid", str, path),
            sig=_required(obj, "sig", str, path),
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The JSON object this signature was built from."""
        return _with_present({"keyid": self.keyid, "sig": self.sig}, self.unrecognized_fields)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed ``manifest.json`` that is NOT yet trusted (signatures unchecked).

    ``_trust.PluginVerifier`` decides whether to trust it; ``_manifest.parse_manifest`` builds
    it after the size cap, strict JSON and the schema.
    """

    signed: SignedPart
    signatures: tuple[Signature, ...]
    unrecognized_fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    _KNOWN: ClassVar[tuple[str, ...]] = ("signed", "signatures")

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """Build from the parsed envelope.

        Raises:
            ManifestError: a part missing or of the wrong JSON type, named by its path.
        """
        obj = _object(data, "<root>")
        if "signed" not in obj or "signatures" not in obj:
            missing = "signed" if "signed" not in obj else "signatures"
            raise _refuse(missing, "required field missing")
        items = _array(obj["signatures"], "signatures")
        return cls(
            signed=SignedPart.from_dict(obj["signed"]),
            signatures=tuple(
                Signature.from_dict(s, f"signatures.{i}") for i, s in enumerate(items)
            ),
            unrecognized_fields=_unrecognized(obj, cls._KNOWN),
        )

    def to_dict(self) -> dict[str, object]:
        """The envelope this manifest was built from."""
        fields = {
            "signed": self.signed.to_dict(),
            "signatures": [s.to_dict() for s in self.signatures],
        }
        return _with_present(fields, self.unrecognized_fields)

    def canonical(self) -> bytes:
        """The bytes every signature covers: :func:`canonical_bytes` of ``signed``."""
        return canonical_bytes(self.signed.to_dict())

    @property
    def name(self) -> str:
        """The plugin name (also its node ``type``)."""
        return self.signed.name

    @property
    def version(self) -> str:
        """The plugin version string."""
        return self.signed.version

    @property
    def kind(self) -> PluginKind:
        """``python``, ``native`` or ``lv2``."""
        return self.signed.kind

    @property
    def files(self) -> Mapping[str, FileRecord]:
        """Relative path → what the signer recorded of that file."""
        return self.signed.files
