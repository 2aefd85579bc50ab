"""The manifest format: strict parsing, canonical bytes, versions, building from a source."""

from __future__ import annotations

import json

import jsonschema
import pytest
from plugin_fakes import NOW, Publisher

from aers_host.errors import ManifestError
from aers_host.plugins import canonical_bytes
from aers_host.plugins._manifest import (
    build_signed,
    compare_versions,
    manifest_schema,
    parse_json_strict,
    parse_manifest,
    relpath_problem,
    schema_problems,
)


def test_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(manifest_schema())


def test_published_manifest_parses(publisher: Publisher) -> None:
    manifest, _ = publisher.publish()
    parsed = parse_manifest(manifest)
    assert (parsed.name, parsed.version, parsed.kind) == ("fx", "1.0.0", "python")
    assert parsed.signatures[0].keyid == publisher.keyid


def test_canonical_bytes_ignore_formatting_and_key_order() -> None:
    a = canonical_bytes(json.loads('{"b": [1, 2], "a": {"y": 1, "x": "é"}}'))
    b = canonical_bytes(json.loads('{"a":{"x":"é","y":1},"b":[1,2]}'))
    assert a == b == '{"a":{"x":"é","y":1},"b":[1,2]}'.encode()


@pytest.mark.security
@pytest.mark.parametrize(
    "text",
    ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}', '{"a": ' + "1" * 5000 + "}",
     '{"a": 1, "a": 2}', "{", "[" * 100_000],
    ids=["nan", "infinity", "overflow", "long-int", "duplicate", "truncated", "deep"],
)  # fmt: skip
def test_strict_json_refuses_ambiguous_documents(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_json_strict(text.encode(), "x.json")


@pytest.mark.security
def test_non_utf8_manifest_refused() -> None:
    with pytest.raises(ManifestError, match="not UTF-8"):
        parse_json_strict(b'{"a": "\xff"}', "x.json")


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.0.0", "1.0.1"),
        ("1.9.0", "1.10.0"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.2", "1.0.0-alpha.10"),
        ("1.0.0-2", "1.0.0-beta"),
        ("0.9.9", "1.0.0"),
    ],
)
def test_versions_sort_in_semver_order(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert compare_versions(newer, newer) == 0


@pytest.mark.parametrize(
    ("rel", "safe"),
    [("a.py", True), ("sub/a.py", True), ("../a", False), ("/a", False), ("a//b", False),
     (".hidden", False), ("a\\b", False), ("C:x", False)],
)  # fmt: skip
def test_relpath_rules(rel: str, safe: bool) -> None:
    assert (relpath_problem(rel) is None) is safe


def test_build_signed_defaults_isolation_by_kind(publisher: Publisher) -> None:
    assert publisher.signed()["isolation"] == "sandbox"
    assert publisher.signed(kind="native")["isolation"] == "in-process"
    assert publisher.signed()["expires"] == "2026-12-25T12:00:00Z"


def test_build_signed_refuses_computed_fields() -> None:
    source = {"name": "fx", "version": "1.0.0", "kind": "python", "entry": "fx.py:Fx",
              "files": {}}  # fmt: skip
    with pytest.raises(ManifestError, match="computed"):
        build_signed(source, {"fx.py": b""}, now=NOW, days=1)


def test_build_signed_lists_every_schema_problem() -> None:
    source = {"name": "Bad Name", "version": "one", "kind": "python", "entry": "fx.py:Fx",
              "colour": "red"}  # fmt: skip
    with pytest.raises(ManifestError) as info:
        build_signed(source, {"fx.py": b""}, now=NOW, days=1)
    text = str(info.value)
    assert "colour" in text and "name" in text and "version" in text
    assert len(text.splitlines()) == 3


def test_build_signed_needs_the_entry_file() -> None:
    source = {"name": "fx", "version": "1.0.0", "kind": "python", "entry": "gone.py:Fx"}
    with pytest.raises(ManifestError, match=r"gone\.py"):
        build_signed(source, {"fx.py": b""}, now=NOW, days=1)


def test_schema_problems_of_signed_part_only(publisher: Publisher) -> None:
    assert schema_problems(publisher.signed(), signed_only=True) == []


@pytest.mark.security
def test_other_spec_major_version_refused(publisher: Publisher) -> None:
    signed = publisher.signed()
    signed["spec_version"] = "2.0"
    with pytest.raises(ManifestError, match=r"spec_version 2\.0"):
        parse_manifest(publisher.seal(signed))
