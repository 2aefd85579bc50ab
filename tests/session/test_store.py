"""The SQLite session store: WAL, migrations, versions, and refusing files that are not ours."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from aers_host.errors import SessionError
from aers_host.session import (
    APPLICATION_ID,
    KEEP_VERSIONS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Session,
    SessionStore,
)


def session(name: str = "demo", position: int = 0, **extra: object) -> Session:
    return Session(name=name, config={"nodes": {"g": {"type": "gain"}}}, position=position,
                   nodes={"g": {"params": {"gain_db": -3.0}}}, **extra)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_new_store_is_wal_with_schema_version_and_application_id(db: Path) -> None:
    with SessionStore(db) as store:
        assert store.save(session()) == 1
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)
    assert pragma(db, "application_id") == APPLICATION_ID
    assert oct(db.stat().st_mode & 0o777) in ("0o600", "0o644")


def test_save_makes_versions_and_load_picks_current_or_given(db: Path) -> None:
    with SessionStore(db) as store:
        assert store.save(session(position=10)) == 1
        assert store.save(session(position=20), note="second") == 2
        assert store.load("demo").position == 20
        assert store.load("demo", version=1).position == 10
        [info] = store.list()
        assert (info.name, info.version, info.position, info.note) == ("demo", 2, 20, "second")
        with pytest.raises(SessionError, match="no version 7 of session named 'demo'"):
            store.load("demo", version=7)


def test_old_versions_are_pruned(db: Path) -> None:
    with SessionStore(db) as store:
        for i in range(KEEP_VERSIONS + 3):
            store.save(session(position=i))
        assert store.load("demo").position == KEEP_VERSIONS + 2
        with pytest.raises(SessionError):
            store.load("demo", version=1)
        kept = store._db().execute("SELECT count(*) FROM session_versions").fetchone()[0]
        assert kept == KEEP_VERSIONS


def test_delete_and_missing(db: Path) -> None:
    with SessionStore(db) as store:
        store.save(session())
        store.delete("demo")
        assert store.list() == []
        with pytest.raises(SessionError, match="no session named 'demo'"):
            store.load("demo")
        with pytest.raises(SessionError, match="no session named 'demo'"):
            store.delete("demo")


@pytest.mark.parametrize("name", ["", "../x", "a b", "-x", "x" * 129, "nul\0"])
def test_invalid_names_are_refused(db: Path, name: str) -> None:
    with SessionStore(db) as store, pytest.raises(SessionError, match="invalid session name"):
        store.save(session(name=name))


def test_migrates_an_empty_sqlite_file_from_v0(db: Path) -> None:
    sqlite3.connect(db).close()  # a 0-byte file
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=0")
    conn.close()
    with SessionStore(db) as store:
        assert store.inspect() == 0
        store.save(session())
    assert pragma(db, "user_version") == SCHEMA_VERSION


def test_migrates_v1_forward_keeping_data(db: Path) -> None:
    conn = sqlite3.connect(db)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with SessionStore(db) as store:
        assert store.inspect() == 1
        store.save(session(position=5))
        store.save(session(position=6), note="after migration")
        assert store.list()[0].note == "after migration"
    assert pragma(db, "user_version") == SCHEMA_VERSION


@pytest.mark.security
def test_random_bytes_are_refused_and_left_untouched(db: Path) -> None:
    data = os.urandom(8192)
    db.write_bytes(data)
    with pytest.raises(SessionError, match=r"not an AERS session database .*left untouched"):
        SessionStore(db).list()
    assert db.read_bytes() == data
    assert sorted(p.name for p in db.parent.iterdir()) == ["sessions.db"]


@pytest.mark.security
def test_foreign_sqlite_database_is_refused_and_left_untouched(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SessionError, match=r"another application .*customers.*untouched"):
        SessionStore(db).save(session())
    assert db.read_bytes() == before


@pytest.mark.security
def test_other_application_id_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id=1234")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SessionError, match="another application"):
        SessionStore(db).list()
    assert db.read_bytes() == before


def test_newer_schema_is_refused_untouched(db: Path) -> None:
    with SessionStore(db) as store:
        store.save(session())
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(SessionError, match="newer than this AERS reads"):
        SessionStore(db).list()
    assert db.read_bytes() == before


def test_tampered_body_fails_its_checksum(db: Path) -> None:
    with SessionStore(db) as store:
        store.save(session())
    conn = sqlite3.connect(db)
    conn.execute("UPDATE session_versions SET body = replace(body, '-3.0', '-9.0')")
    conn.commit()
    conn.close()
    with SessionStore(db) as store, pytest.raises(SessionError, match="checksum does not match"):
        store.load("demo")


def test_truncated_database_is_a_clear_error(db: Path) -> None:
    with SessionStore(db) as store:
        for i in range(30):
            store.save(session(name=f"s{i}", position=i, extra={"big": ["x" * 1000] * 10}))
    (db.parent / "sessions.db-wal").unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes(data[:4096] + b"\xff" * (len(data) - 4096))
    with pytest.raises(SessionError), SessionStore(db) as store:
        for i in range(30):
            store.load(f"s{i}")


def test_integrity_check_ok(db: Path) -> None:
    with SessionStore(db) as store:
        store.save(session())
        assert store.integrity_check() == "ok"


def test_one_store_shared_by_threads(db: Path) -> None:
    import threading

    with SessionStore(db) as store:

        def saver(prefix: str) -> None:
            for i in range(15):
                store.save(session(name=f"{prefix}", position=i))

        threads = [threading.Thread(target=saver, args=(p,)) for p in ("a", "b", "c")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [(i.name, i.version, i.position) for i in store.list()] == [
            ("a", 15, 14), ("b", 15, 14), ("c", 15, 14),
        ]  # fmt: skip
