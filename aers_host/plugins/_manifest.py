"""The plugin manifest: its format, strict parsing, canonical bytes and versions (pure).

A plugin directory holds its files plus ``manifest.json``, a signed envelope
(docs/plugins.md, "4. Sign")::

    {"signed": {"spec_version": "1.0", "name": "tremolo", "version": "1.0.0",
                "kind": "python", "entry": "tremolo.py:Tremolo", "isolation": "sandbox",
                "files": {"tremolo.py": {"sha256": "…", "size": 1234}},
                "params": [{"name": "depth", "default": 0.5, "min": 0, "max": 1}],
                "permissions": [], "expires": "2027-11-25T00:00:00Z"},
     "signatures": [{"keyid": "<sha256 of the raw public key>", "sig": "<base64 Ed25519>"}]}

Invariants (each is a refusal with a test):

* The size cap is checked on the raw bytes *before* parsing, so a huge file costs nothing.
* JSON is parsed strictly: UTF-8 only, duplicate keys refused (two parsers could otherwise
  disagree about which value was signed), ``NaN``/``Infinity`` refused.
* The schema (``manifest.schema.json``, JSON Schema 2020-12) refuses unknown fields and wrong
  types. Signed data nobody checks is an attack surface, so a 1.x manifest has no "extra"
  bag; only then is the document turned into the typed :class:`~._model.Manifest`, which
  code reads by attribute (docs/plugins.md, "Unknown fields").
* ``files`` keys are plain relative paths inside the plugin folder: no ``..``, no absolute
  path, no backslash, no hidden segment.
* Signatures cover :func:`canonical_bytes` of ``signed`` (RFC 8785), never the file bytes, so
  re-indenting ``manifest.json`` does not break it and editing any field does.

Nothing here reads the disk except the packaged schema; keys and trust live in ``_trust``.

Example:
    >>> compare_versions("1.10.0", "1.9.3")
    1
    >>> canonical_bytes({"b": 1, "a": "x"})
    b'{"a":"x","b":1}'
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Final, cast

from ..errors import ManifestError, PluginValidationError
from ._keys import key_id, sign_bytes
from ._model import Manifest, SignedPart, canonical_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: The manifest format this host speaks; a different major version is refused.
SPEC_VERSION: Final = "1.0"
#: The signed envelope inside a plugin folder.
MANIFEST_FILE: Final = "manifest.json"
#: The unsigned fields an author edits; ``aers plugin sign`` adds files, expiry, signature.
SOURCE_FILE: Final = "manifest.in.json"
#: Fields of ``signed`` that ``aers plugin sign`` computes; a source may not set them.
COMPUTED_FIELDS: Final = frozenset({"spec_version", "files", "expires"})
#: Isolation a kind gets when its source does not say.
DEFAULT_ISOLATION: Final = {"python": "sandbox", "native": "in-process", "lv2": "sandbox"}
#: File extensions the entry of each kind may have.
ENTRY_SUFFIX: Final = {"python": (".py",), "native": (".so", ".dylib"), "lv2": (".so",)}

_EXPIRES_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_VERSION_RE: Final = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that bound the work one verification can be made to do.

    docs/plugins.md lists them ("Limits").
    """

    #: Largest ``manifest.json`` accepted, checked before parsing (1 MiB).
    max_manifest_bytes: int = 1 << 20
    #: Most files a plugin folder may hold.
    max_files: int = 1000
    #: Largest single file.
    max_file_bytes: int = 64 << 20
    #: Largest sum of all file sizes.
    max_total_bytes: int = 256 << 20


DEFAULT_LIMITS: Final = Limits()


def envelope_bytes(signed: Mapping[str, object], signatures: list[dict[str, str]]) -> bytes:
    """The ``manifest.json`` file content: readable, stable, with a final newline."""
    text = json.dumps(
        {"signed": signed, "signatures": signatures}, indent=2, sort_keys=True, ensure_ascii=False
    )
    return (text + "\n").encode("utf-8")


def parse_json_strict(data: bytes, what: str) -> Any:
    """Parse JSON refusing what lets two readers see different documents.

    Args:
        data: the raw bytes.
        what: how to name the document in messages (a file name).

    Returns:
        The parsed value.

    Raises:
        ManifestError: not UTF-8, not JSON, a duplicate key, or NaN/Infinity.
    """

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ManifestError(f"{what}: duplicate key {key!r} in one JSON object")
            result[key] = value
        return result

    def no_constants(token: str) -> Any:
        raise ManifestError(f"{what}: {token} is not valid JSON")

    def finite_float(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):  # 1e400 parses as inf; no range check survives that
            raise ManifestError(f"{what}: number {token[:20]} is out of range")
        return value

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(f"{what}: not UTF-8 ({err.reason} at byte {err.start})") from err
    try:
        return json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_constant=no_constants,
            parse_float=finite_float,
        )
    except json.JSONDecodeError as err:
        raise ManifestError(f"{what}: not valid JSON: {err.msg} (line {err.lineno})") from err
    except ValueError as err:  # an integer longer than Python's digit limit
        raise ManifestError(f"{what}: not valid JSON: {err}") from err
    except RecursionError as err:
        raise ManifestError(f"{what}: JSON nested too deeply") from err


@cache
def manifest_schema() -> dict[str, Any]:
    """The packaged JSON Schema (2020-12) of a manifest."""
    from importlib import resources

    text = resources.files(__package__ or "aers_host.plugins").joinpath("manifest.schema.json")
    return cast(dict[str, Any], json.loads(text.read_text(encoding="utf-8")))


def schema_problems(document: Any, *, signed_only: bool = False) -> list[str]:
    """Every schema violation of ``document`` as ``path: message`` lines (empty when valid).

    Args:
        document: a whole envelope, or only its ``signed`` part when ``signed_only``.
        signed_only: validate against the ``signed`` definition (used when signing).
    """
    import jsonschema  # ~0.1 s to import: not for commands that never check a manifest

    schema = manifest_schema()
    if signed_only:
        schema = {**schema, "$ref": "#/$defs/signed"}
        for key in ("type", "required", "properties", "additionalProperties"):
            schema.pop(key, None)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "<root>"
        problems.append(f"{where}: {_short(error.message)}")
    return problems


def _short(message: str, limit: int = 160) -> str:
    """Keep schema messages to one readable line (they can quote a whole object)."""
    line = message.replace("\n", " ")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def relpath_problem(rel: str) -> str | None:
    """Why ``rel`` is not a safe plugin file path, or None when it is.

    Safe means: relative, ``/``-separated, no empty, ``.``, ``..`` or hidden segment, no
    backslash or NUL, so joining it to the plugin folder can only name a file inside it.
    """
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        return "is an absolute path"
    if "\\" in rel or "\x00" in rel:
        return "contains a backslash or NUL"
    for segment in rel.split("/"):
        if segment in ("", ".", ".."):
            return "has an empty, '.' or '..' segment (paths must stay inside the plugin folder)"
        if segment.startswith("."):
            return "has a hidden segment"
    return None


def parse_manifest(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Parse and schema-check ``manifest.json`` bytes; nothing here means "trusted".

    Args:
        data: the raw file content.
        limits: the size cap to apply.

    Returns:
        The parsed manifest, still to be verified by ``_trust.PluginVerifier``.

    Raises:
        ManifestError: too large, not strict JSON, schema violations (all listed, one per
            line), an unsafe ``files`` path, or an unsupported ``spec_version``.
    """
    if len(data) > limits.max_manifest_bytes:
        raise ManifestError(
            f"{MANIFEST_FILE}: {len(data)} bytes is over the {limits.max_manifest_bytes}-byte cap"
        )
    document = parse_json_strict(data, MANIFEST_FILE)
    problems = [f"{MANIFEST_FILE}: {p}" for p in schema_problems(document)]
    if problems:
        raise ManifestError("\n".join(problems))
    manifest = Manifest.from_dict(document)
    signed = manifest.signed
    problems = [
        f"{MANIFEST_FILE}: files: {rel!r} {why}"
        for rel in signed.files
        if (why := relpath_problem(rel)) is not None
    ]
    major = signed.spec_version.split(".")[0]
    if major != SPEC_VERSION.split(".")[0]:
        problems.append(
            f"{MANIFEST_FILE}: spec_version {signed.spec_version} is not supported "
            f"(this host reads {SPEC_VERSION.split('.')[0]}.x)"
        )
    if problems:
        raise ManifestError("\n".join(problems))
    return manifest


VersionKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def version_key(version: str) -> VersionKey:
    """A sort key for ``MAJOR.MINOR.PATCH[-PRE]`` in semver order.

    A release sorts after its pre-releases; numeric pre-release identifiers compare as
    numbers and before alphanumeric ones; a shorter identifier list sorts first (semver §11).

    Raises:
        ValueError: not a version string (the schema refuses those before we get here).
    """
    match = _VERSION_RE.match(version)
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    pre = match[4]
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in (pre or "").split(".")
    )
    if pre is None:
        return (int(match[1]), int(match[2]), int(match[3]), 1, ())
    return (int(match[1]), int(match[2]), int(match[3]), 0, identifiers)


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as ``left`` is older than, equal to or newer than ``right``."""
    a, b = version_key(left), version_key(right)
    return (a > b) - (a < b)


def parse_expires(text: str) -> datetime:
    """The ``expires`` field as an aware UTC datetime.

    Raises:
        ManifestError: the pattern matched but the date does not exist (February 30).
    """
    try:
        return datetime.strptime(text, _EXPIRES_FORMAT).replace(tzinfo=UTC)
    except ValueError as err:
        raise ManifestError(f"{MANIFEST_FILE}: expires {text!r} is not a real date") from err


def prepare_signed(
    source_bytes: bytes,
    files: Mapping[str, bytes],
    *,
    now: datetime,
    days: int,
    reserved: frozenset[str] = frozenset(),
) -> SignedPart:
    """The ``signed`` part to sign, refused when no host would ever accept it.

    Runs the verifier's host-compatibility step (:func:`host_problems`) on the unsigned
    document, so ``aers plugin sign`` never writes a manifest ``aers plugin verify`` must
    refuse for what it declares. Nothing is signed or written here.

    Args:
        source_bytes: the raw ``manifest.in.json``.
        files: every file of the folder except ``manifest.json`` (the source included).
        now: signing time (aware).
        days: validity in days.
        reserved: names the plugin may not take.

    Raises:
        ManifestError: the source is not strict JSON, not an object, or builds an invalid
            manifest (see :func:`build_signed`).
        PluginValidationError: the manifest fails a host-compatibility check; every problem
            is listed, one per line, worded as ``aers plugin verify`` words it.
    """
    source = parse_json_strict(source_bytes, SOURCE_FILE)
    if not isinstance(source, dict):
        raise ManifestError(f"{SOURCE_FILE}: must be a JSON object")
    signed = SignedPart.from_dict(build_signed(source, files, now=now, days=days))
    problems = host_problems(signed, reserved=reserved)
    if problems:
        raise host_error(signed.name, problems)
    return signed


def seal(signed: SignedPart, key: Ed25519PrivateKey) -> bytes:
    """The ``manifest.json`` bytes: ``signed`` plus one signature by ``key`` over it."""
    document = signed.to_dict()
    signature = {
        "keyid": key_id(key.public_key()),
        "sig": sign_bytes(key, canonical_bytes(document)),
    }
    return envelope_bytes(document, [signature])


def host_problems(signed: SignedPart, *, reserved: frozenset[str]) -> list[str]:
    """What this host refuses to run in a schema-valid ``signed`` part (verify step 9).

    Shared by ``PluginVerifier.verify`` and :func:`prepare_signed`, so signing refuses
    exactly what verification would, with the same words.

    Args:
        signed: the ``signed`` part (schema-valid; signature not needed).
        reserved: node type names a plugin may not take.

    Returns:
        One message per problem: reserved name, entry file not listed or with the wrong
        suffix for its kind, a native plugin not in-process, a param declared twice or
        with its default outside ``[min, max]``. Empty when the host can run it.
    """
    problems: list[str] = []
    kind = signed.kind
    if signed.name in reserved:
        problems.append(
            "name collides with a built-in node type or an installed Python package's; "
            "those names are reserved (rename the plugin)"
        )
    entry_file = signed.entry_file
    if entry_file not in signed.files:
        problems.append(f"entry file {entry_file!r} is not listed in files")
    if not entry_file.endswith(ENTRY_SUFFIX[kind]):
        wanted = " or ".join(ENTRY_SUFFIX[kind])
        problems.append(f"a {kind} entry must be a {wanted} file, got {entry_file!r}")
    if kind == "native" and signed.isolation != "in-process":
        problems.append("native plugins run in-process; isolation must be 'in-process'")
    if (kind == "lv2") != (signed.lv2 is not None):
        problems.append("an lv2 section is required for kind lv2 and refused for any other kind")
    seen: set[str] = set()
    for param in signed.params:
        if param.name in seen:
            problems.append(f"param {param.name!r} is declared twice")
        seen.add(param.name)
        if not param.min <= param.default <= param.max:
            problems.append(f"param {param.name!r}: default must lie within [min, max]")
    return problems


def host_error(name: str, problems: list[str]) -> PluginValidationError:
    """One error for :func:`host_problems`' findings: ``plugin 'NAME': …`` per line."""
    return PluginValidationError(name, f"\nplugin {name!r}: ".join(problems))


def build_signed(
    source: Mapping[str, Any], files: Mapping[str, bytes], *, now: datetime, days: int
) -> dict[str, Any]:
    """Combine an author's ``manifest.in.json`` with file hashes into the ``signed`` part.

    Args:
        source: name, version, kind, entry and optionally isolation, params, description.
        files: every file of the plugin folder except ``manifest.json``, as bytes.
        now: signing time (aware).
        days: validity; ``expires`` is ``now + days``, truncated to the second.

    Returns:
        The ``signed`` object, schema-valid.

    Raises:
        ManifestError: the source sets a computed field, or the result violates the schema
            (every problem listed), or the entry file is missing.
    """
    if days < 1:
        raise ManifestError(f"{SOURCE_FILE}: --expires must be at least 1 day, got {days}")
    computed = sorted(COMPUTED_FIELDS & set(source))
    if computed:
        raise ManifestError(
            f"{SOURCE_FILE}: {', '.join(computed)} are computed by 'aers plugin sign'; "
            "remove them from the source"
        )
    kind = source.get("kind")
    signed: dict[str, Any] = {
        "params": [],
        "permissions": [],
        **({"isolation": DEFAULT_ISOLATION[kind]} if kind in DEFAULT_ISOLATION else {}),
        **source,
        "spec_version": SPEC_VERSION,
        "files": {
            rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for rel, data in sorted(files.items())
        },
        "expires": (now.astimezone(UTC) + timedelta(days=days)).strftime(_EXPIRES_FORMAT),
    }
    problems = [f"{SOURCE_FILE}: {p}" for p in schema_problems(signed, signed_only=True)]
    if problems:
        raise ManifestError("\n".join(problems))
    entry_file = str(signed["entry"]).split(":", 1)[0]
    if entry_file not in files:
        raise ManifestError(f"{SOURCE_FILE}: entry file {entry_file!r} is not in the folder")
    return signed
