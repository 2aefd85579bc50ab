"""One test per refusal of the issue: exact error class, and nothing installed.

Each test publishes a plugin folder with an ephemeral key, breaks it one way, and installs
it into an empty store. The store must raise the exact subclass and stay empty (no plugin,
no staging or trash folder left behind).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from plugin_fakes import NOW, Publisher, edit, store_listing

from aers_host.errors import (
    EqualVersionError,
    ExpiredError,
    HashMismatchError,
    ManifestError,
    PluginValidationError,
    RollbackError,
    SignatureError,
    TrustError,
)
from aers_host.plugins import Keyring, PluginStore

pytestmark = pytest.mark.security


def refused(store: PluginStore, folder: Path, error: type[Exception]) -> Exception:
    """Install ``folder``; assert the exact error and an untouched (empty) store."""
    with pytest.raises(error) as info:
        store.install(folder)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    assert store_listing(store) == []
    assert str(info.value).strip(), "a refusal needs a message"
    return info.value


def test_modified_file_refused(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    folder = publisher.plugin_dir(tmp_path)
    (folder / "fx.py").write_bytes(b"import os\nos.system('id')\n" + b"#" * 60)
    err = refused(store, folder, HashMismatchError)
    assert "fx.py" in str(err)


def test_same_size_modified_file_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    original = (folder / "fx.py").read_bytes()
    (folder / "fx.py").write_bytes(original.replace(b"inp", b"out"))
    assert "sha256" in str(refused(store, folder, HashMismatchError))


def test_extra_unlisted_file_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "payload.py").write_text("evil = True\n")
    assert "sub/payload.py" in str(refused(store, folder, HashMismatchError))


def test_missing_file_refused(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    folder = publisher.plugin_dir(tmp_path)
    (folder / "README.txt").unlink()
    assert "README.txt" in str(refused(store, folder, HashMismatchError))


def test_symlink_in_plugin_dir_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    (folder / "README.txt").unlink()
    os.symlink("/etc/passwd", folder / "README.txt")
    assert "symlink" in str(refused(store, folder, TrustError))


def test_symlinked_subfolder_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    os.symlink("/etc", folder / "etc")
    assert "symlink" in str(refused(store, folder, TrustError))


def test_folder_and_file_problems_are_listed_together(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    # One run names the symlink, the FIFO, the tampered file and the extra file.
    folder = publisher.plugin_dir(tmp_path)
    os.symlink("/etc/passwd", folder / "link")
    os.mkfifo(folder / "fifo")
    (folder / "fx.py").write_bytes((folder / "fx.py").read_bytes() + b"# changed\n")
    (folder / "extra.txt").write_text("x")
    lines = str(refused(store, folder, TrustError)).splitlines()
    for expected in ("link: is a symlink", "fifo: is not a regular file", "fx.py", "extra.txt"):
        assert any(expected in line for line in lines), (expected, lines)


def test_folder_problems_come_with_a_bad_signature(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    os.symlink("/etc/passwd", folder / "link")
    manifest = folder / "manifest.json"
    bumped = edit(manifest.read_bytes(), lambda m: m["signed"].update(version="9.9.9"))
    manifest.write_bytes(bumped)  # signed content changed: the signature no longer matches
    message = str(refused(store, folder, TrustError))
    assert "link: is a symlink" in message and "signature" in message


@pytest.mark.parametrize("bad", ["../escape.py", "/etc/passwd", "a/../../b.py", "./x.py"])
def test_files_entry_outside_plugin_dir_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path, bad: str
) -> None:
    signed = publisher.signed()
    signed["files"][bad] = signed["files"]["README.txt"]
    folder = publisher.write(tmp_path, publisher.seal(signed), publisher.files())
    assert repr(bad) in str(refused(store, folder, ManifestError))


def test_size_mismatch_refused(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    signed = publisher.signed()
    signed["files"]["README.txt"]["size"] += 1  # signed by the trusted key, but wrong
    folder = publisher.write(tmp_path, publisher.seal(signed), publisher.files())
    assert "size" in str(refused(store, folder, HashMismatchError))


def test_untrusted_key_refused(store: PluginStore, tmp_path: Path) -> None:
    stranger = Publisher()
    err = refused(store, stranger.plugin_dir(tmp_path), SignatureError)
    assert f"untrusted key {stranger.keyid}" in str(err)


def test_revoked_key_refused(tmp_path: Path, publisher: Publisher) -> None:
    ring = publisher.keyring().with_revoked(publisher.keyid)
    store = PluginStore(tmp_path / "store", keyring=ring, now=NOW, reserved=frozenset())
    assert "revoked" in str(refused(store, publisher.plugin_dir(tmp_path), SignatureError))


@pytest.mark.parametrize(
    "sig",
    ["A" * 86 + "==", "not base64!", ""],
    ids=["wrong-bytes", "not-base64", "empty"],
)
def test_bad_signature_bytes_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path, sig: str
) -> None:
    signed = publisher.signed()
    folder = publisher.write(tmp_path, publisher.seal(signed, sig=sig), publisher.files())
    # A malformed signature string is a schema error; well-formed wrong bytes fail the check.
    refused(store, folder, SignatureError if sig.endswith("==") else ManifestError)


EDITS: dict[str, Any] = {
    "name": lambda s: s.update(name="fx2"),
    "version": lambda s: s.update(version="9.0.0"),
    "description": lambda s: s.update(description="harmless?"),
    "entry": lambda s: s.update(entry="fx.py:Other"),
    "isolation": lambda s: s.update(isolation="in-process"),
    "params": lambda s: s["params"][0].update(max=1000.0),
    "expires": lambda s: s.update(expires="2099-01-01T00:00:00Z"),
    "files": lambda s: s["files"].pop("README.txt"),
    "spec_version": lambda s: s.update(spec_version="1.1"),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_manifest_edited_after_signing_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path, field: str
) -> None:
    manifest = edit(publisher.seal(publisher.signed()), lambda d: EDITS[field](d["signed"]))
    files = publisher.files()
    if field == "files":  # keep the folder consistent with the edit: only the signature breaks
        files.pop("README.txt")
    folder = publisher.write(tmp_path, manifest, files)
    assert "does not verify" in str(refused(store, folder, SignatureError))


def test_expired_manifest_refused(tmp_path: Path, publisher: Publisher) -> None:
    later = NOW + timedelta(days=31)
    store = PluginStore(tmp_path / "store", keyring=publisher.keyring(), now=later,
                        reserved=frozenset())  # fmt: skip
    assert "expired" in str(refused(store, publisher.plugin_dir(tmp_path), ExpiredError))


def test_rollback_refused(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    store.install(publisher.plugin_dir(tmp_path, version="2.0.0"))
    before = store_listing(store)
    with pytest.raises(RollbackError) as info:
        store.install(publisher.plugin_dir(tmp_path, version="1.9.9"))
    assert type(info.value) is RollbackError
    assert store_listing(store) == before
    assert store.load_installed("fx").version == "2.0.0"


def test_equal_version_with_other_content_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    before = store_listing(store)
    with pytest.raises(EqualVersionError) as info:
        store.install(publisher.plugin_dir(tmp_path, description="different"))
    assert type(info.value) is EqualVersionError
    assert store_listing(store) == before


def test_duplicate_keys_in_manifest_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    manifest = publisher.seal(publisher.signed())
    # A second "version" that a lenient parser would keep; the signature covers the first.
    forged = manifest.replace(b'"version": "1.0.0"', b'"version": "1.0.0", "version": "9.9.9"')
    assert forged != manifest
    folder = publisher.write(tmp_path, forged, publisher.files())
    assert "duplicate key 'version'" in str(refused(store, folder, ManifestError))


def test_manifest_over_one_megabyte_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    huge = b"[" * (1 << 20) + b"]" * 10  # would blow the parser's recursion if parsed
    folder = publisher.write(tmp_path, huge, publisher.files())
    assert "cap" in str(refused(store, folder, ManifestError))


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda d: d["signed"].update(homepage="x"), "homepage"),
        (lambda d: d.update(comment="x"), "comment"),
        (lambda d: d["signed"].update(version=1), "version"),
        (lambda d: d["signed"]["params"][0].update(min="0"), "params.0.min"),
        (lambda d: d["signed"].update(kind="wasm"), "kind"),
        (lambda d: d["signed"]["files"]["fx.py"].update(size=-1), "size"),
    ],
    ids=["unknown-signed-field", "unknown-top-field", "version-int", "min-str", "kind", "size"],
)
def test_unknown_fields_or_wrong_types_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path, change: Any, expect: str
) -> None:
    manifest = edit(publisher.seal(publisher.signed()), change)
    folder = publisher.write(tmp_path, manifest, publisher.files())
    assert expect in str(refused(store, folder, ManifestError))


def test_native_plugin_signed_by_python_only_key_refused(
    tmp_path: Path, publisher: Publisher
) -> None:
    store = PluginStore(tmp_path / "store", keyring=publisher.keyring("python"), now=NOW,
                        reserved=frozenset())  # fmt: skip
    folder = publisher.plugin_dir(tmp_path, kind="native")
    assert "trusted for python only" in str(refused(store, folder, SignatureError))


def test_python_plugin_signed_by_native_only_key_refused(
    tmp_path: Path, publisher: Publisher
) -> None:
    store = PluginStore(tmp_path / "store", keyring=publisher.keyring("native"), now=NOW,
                        reserved=frozenset())  # fmt: skip
    refused(store, publisher.plugin_dir(tmp_path), SignatureError)


@pytest.mark.parametrize("name", ["eq", "gain", "output"])
def test_builtin_name_collision_refused(
    store: PluginStore, publisher: Publisher, tmp_path: Path, name: str
) -> None:
    err = refused(store, publisher.plugin_dir(tmp_path, name=name), PluginValidationError)
    assert "reserved" in str(err)


def test_empty_keyring_refuses_everything(tmp_path: Path, publisher: Publisher) -> None:
    store = PluginStore(tmp_path / "store", keyring=Keyring(), now=NOW, reserved=frozenset())
    refused(store, publisher.plugin_dir(tmp_path), SignatureError)


def test_several_kinds_of_problem_are_all_listed(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    signed = publisher.signed()
    signed["expires"] = "2026-01-01T00:00:00Z"  # already past at NOW
    folder = publisher.write(tmp_path, publisher.seal(signed), publisher.files())
    (folder / "fx.py").write_bytes(b"tampered")
    (folder / "extra.bin").write_bytes(b"x")
    err = refused(store, folder, TrustError)
    lines = str(err).splitlines()
    assert len(lines) == 3
    assert any("expired" in line for line in lines)
    assert all(line.startswith("plugin 'fx': ") for line in lines)
