"""The store: safe reads, atomic install/upgrade/remove, where it lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plugin_fakes import Publisher, store_listing

from aers_host import _paths
from aers_host.errors import HashMismatchError, PluginError, RollbackError, TrustError
from aers_host.plugins import InstalledRef, Limits, PluginStore, read_plugin_dir


def test_install_then_load(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    plugin = store.install(publisher.plugin_dir(tmp_path))
    assert store.names() == ["fx"]
    assert store_listing(store) == ["fx", "fx/README.txt", "fx/fx.py", "fx/manifest.json"]
    loaded = store.load_installed("fx")
    assert loaded.files == plugin.files
    assert loaded.keyid == publisher.keyid


def test_reinstall_same_version_same_content_is_idempotent(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    store.install(publisher.plugin_dir(tmp_path))  # re-signed copy: same files, same version
    assert store_listing(store) == ["fx", "fx/README.txt", "fx/fx.py", "fx/manifest.json"]


def test_newer_version_upgrades(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    store.install(publisher.plugin_dir(tmp_path, version="1.0.0"))
    store.install(publisher.plugin_dir(tmp_path, version="1.1.0"))
    assert store.load_installed("fx").version == "1.1.0"
    assert store.names() == ["fx"]
    assert sorted(p.name for p in store.root.iterdir() if p.name.startswith(".")) == [
        ".floors.json",
        ".lock",
    ]


def test_failed_swap_restores_the_old_version(
    store: PluginStore, publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.install(publisher.plugin_dir(tmp_path, version="1.0.0"))
    before = store_listing(store)
    real_rename = os.rename

    def failing_rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).name.startswith(".staging-"):
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(PluginError, match=r"cannot write into the plugin store .*No space left"):
        store.install(publisher.plugin_dir(tmp_path, version="2.0.0"))
    assert store_listing(store) == before
    assert store.load_installed("fx").version == "1.0.0"


def test_failed_first_install_leaves_nothing(
    store: PluginStore, publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(PluginError, match="I/O error; nothing was installed"):
        store.install(publisher.plugin_dir(tmp_path))
    assert store_listing(store) == []


def test_leftovers_of_a_killed_install_are_cleared_by_the_next_one(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path, version="1.0.0"))
    half = store.root / ".staging-killed"  # an install killed while writing its copy
    (half / "sub").mkdir(parents=True)
    (half / "sub" / "big.bin").write_bytes(b"x" * 1000)
    store.install(publisher.plugin_dir(tmp_path, version="1.1.0"))
    assert not half.exists()
    assert sorted(p.name for p in store.root.iterdir() if p.name.startswith(".")) == [
        ".floors.json",
        ".lock",
    ]


def test_a_version_stranded_between_the_two_renames_is_put_back(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path, version="1.0.0"))
    trash = store.root / ".trash-killed"  # killed after moving 1.0.0 aside, before the swap
    trash.mkdir()
    os.rename(store.root / "fx", trash / "old")
    assert store.names() == []
    with pytest.raises(PluginError, match="no installed plugin named 'gx'"):
        store.remove("gx")  # any store write first puts the stranded version back
    assert store.load_installed("fx").version == "1.0.0" and not trash.exists()
    with pytest.raises(TrustError):  # and rollback protection sees it again
        store.install(publisher.plugin_dir(tmp_path, version="0.9.0"))


def test_install_that_lost_a_race_changes_nothing(
    store: PluginStore, publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = iter([None, InstalledRef("9.0.0", "other")])  # another process installed meanwhile
    monkeypatch.setattr(store, "installed_ref", lambda name: next(refs))
    with pytest.raises(PluginError, match="changed during install"):
        store.install(publisher.plugin_dir(tmp_path))
    assert store_listing(store) == []


def test_remove(store: PluginStore, publisher: Publisher, tmp_path: Path) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    store.remove("fx")
    assert store_listing(store) == []
    with pytest.raises(PluginError, match="no installed plugin"):
        store.remove("fx")


@pytest.mark.security
@pytest.mark.parametrize("name", ["..", "../x", "/etc", ".staging-x", ""])
def test_remove_refuses_paths(store: PluginStore, name: str) -> None:
    with pytest.raises(PluginError):
        store.remove(name)


@pytest.mark.security
def test_tampered_installed_copy_fails_load(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path))
    (store.root / "fx" / "fx.py").write_bytes(b"import os")
    with pytest.raises(HashMismatchError):
        store.load_installed("fx")
    (entry,) = store.entries()
    assert entry.plugin is None and isinstance(entry.error, HashMismatchError)


@pytest.mark.security
def test_hidden_files_and_bytecode_caches_refused_by_name(
    publisher: Publisher, tmp_path: Path
) -> None:
    folder = publisher.plugin_dir(tmp_path)
    (folder / "__pycache__").mkdir()
    (folder / ".git").mkdir()
    with pytest.raises(TrustError) as info:
        read_plugin_dir(folder)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "__pycache__: is a bytecode cache" in lines[1]
    assert ".git: has a hidden segment" in lines[0]


@pytest.mark.security
def test_fifo_in_plugin_dir_refused(publisher: Publisher, tmp_path: Path) -> None:
    folder = publisher.plugin_dir(tmp_path)
    os.mkfifo(folder / "pipe")
    with pytest.raises(TrustError, match="not a regular file"):
        read_plugin_dir(folder)


@pytest.mark.security
def test_file_over_the_size_cap_refused(publisher: Publisher, tmp_path: Path) -> None:
    folder = publisher.plugin_dir(tmp_path)
    with pytest.raises(TrustError, match="cap"):
        read_plugin_dir(folder, Limits(max_file_bytes=10))


def test_read_plugin_dir_reads_every_file_once(publisher: Publisher, tmp_path: Path) -> None:
    source = read_plugin_dir(publisher.plugin_dir(tmp_path))
    assert source.manifest is not None
    assert source.files == publisher.files()


def test_missing_folder_is_a_plugin_error(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="not a readable plugin folder"):
        read_plugin_dir(tmp_path / "nope")


def test_store_and_keyring_live_under_aers_home(aers_home: Path) -> None:
    assert _paths.plugin_store_dir() == aers_home / "plugins"
    assert _paths.keyring_path() == aers_home / "keyring.json"
    assert _paths.sessions_db_path() == aers_home / "sessions.db"
    assert PluginStore(reserved=frozenset()).root == aers_home / "plugins"


def test_without_aers_home_platformdirs_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv("AERS_HOME", raising=False)
    assert _paths.keyring_path().parent == Path(platformdirs.user_config_dir("aers"))
    assert _paths.plugin_store_dir().parent == Path(platformdirs.user_data_dir("aers"))


def test_verify_refuses_a_rollback_like_install_does(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path / "new", version="0.2.0"))
    older = publisher.plugin_dir(tmp_path / "old", version="0.1.0")
    with pytest.raises(RollbackError):
        store.verify_dir(older)
    with pytest.raises(RollbackError):
        store.install(older)
    assert store.verify_dir(store.root / "fx").version == "0.2.0"  # the installed copy itself


def _installed_then_removed(store: PluginStore, publisher: Publisher, root: Path) -> None:
    """fx 0.2.0 installed, then removed: nothing installed, its floor kept."""
    store.install(publisher.plugin_dir(root / "new", version="0.2.0"))
    store.remove("fx")
    assert store.names() == []


@pytest.mark.security
def test_remove_keeps_the_version_floor_so_an_older_version_cannot_come_back(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    """Attack: remove 0.2.0, then install a still validly signed 0.1.0 (with a known hole)."""
    _installed_then_removed(store, publisher, tmp_path)
    older = publisher.plugin_dir(tmp_path / "old", version="0.1.0")
    before = store_listing(store)
    for attempt in (store.verify_dir, store.install):
        with pytest.raises(RollbackError) as info:
            attempt(older)
        message = str(info.value)
        assert "older than installed before (removed since) 0.2.0" in message
        assert "`aers plugin remove` keeps this floor" in message
        assert "--allow-downgrade" in message
    assert store_listing(store) == before  # nothing half-installed
    # The same version (same content) may come back; a newer one too.
    store.install(publisher.plugin_dir(tmp_path / "same", version="0.2.0"))
    store.remove("fx")
    store.install(publisher.plugin_dir(tmp_path / "newer", version="0.3.0"))
    assert store.load_installed("fx").version == "0.3.0"


def test_allow_downgrade_is_the_users_explicit_way_back_and_lowers_the_floor(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path / "v3", version="0.3.0"))
    store.remove("fx")
    store.install(publisher.plugin_dir(tmp_path / "v1", version="0.1.0"), allow_downgrade=True)
    assert store.load_installed("fx").version == "0.1.0"
    store.remove("fx")
    store.install(publisher.plugin_dir(tmp_path / "v2", version="0.2.0"))  # over the new floor
    with pytest.raises(RollbackError):
        store.install(publisher.plugin_dir(tmp_path / "v1b", version="0.1.0"))
    store.install(publisher.plugin_dir(tmp_path / "v1c", version="0.1.0"), allow_downgrade=True)
    assert store.load_installed("fx").version == "0.1.0"  # over an installed copy too


def test_a_copy_installed_before_floors_existed_gets_its_floor_at_remove(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    store.install(publisher.plugin_dir(tmp_path / "new", version="0.2.0"))
    (store.root / ".floors.json").unlink()  # as a store written by an older AERS
    store.remove("fx")
    with pytest.raises(RollbackError):
        store.install(publisher.plugin_dir(tmp_path / "old", version="0.1.0"))


@pytest.mark.security
def test_a_damaged_floors_file_refuses_rather_than_allowing_a_rollback(
    store: PluginStore, publisher: Publisher, tmp_path: Path
) -> None:
    _installed_then_removed(store, publisher, tmp_path)
    (store.root / ".floors.json").write_text('{"version": 1, "floors": []}')
    with pytest.raises(TrustError, match=r"\.floors\.json: not a version-floors file"):
        store.install(publisher.plugin_dir(tmp_path / "old", version="0.1.0"))
    assert store.names() == []
