"""The session store: one SQLite file (``$AERS_HOME/sessions.db``) of versioned sessions.

Invariants:

* **Never damage what we did not make.** Before anything is written, the file is inspected
  read-only (its header bytes, then a ``mode=ro`` connection): a file that is not SQLite, a
  SQLite database of another application (``PRAGMA application_id`` not ours and tables
  present) or of a newer AERS (``user_version`` above :data:`SCHEMA_VERSION`) raises
  :class:`~aers_host.errors.SessionError` and is left byte for byte as it was.
* **Durable and atomic.** The database runs in WAL mode with ``synchronous=FULL``; every
  write is one ``BEGIN IMMEDIATE`` transaction. A save inserts a new row version and moves
  the session's ``current_version`` pointer in the same transaction, so a crash (even
  ``kill -9``) mid-save leaves the previous version current and intact.
* **Forward migrations only.** ``PRAGMA user_version`` is the schema version; each entry
  of :data:`MIGRATIONS` takes the schema one step up, inside the same transaction as the
  ``user_version`` bump.
* **Checked on the way out.** Each body is stored with its SHA-256; a mismatch on load is a
  clear error, not a half-restored graph.

Example:
    >>> import tempfile, pathlib
    >>> store = SessionStore(pathlib.Path(tempfile.mkdtemp()) / "s.db")
    >>> store.save(Session(name="demo", config={"nodes": {}}))
    1
    >>> store.load("demo").name, [i.name for i in store.list()]
    ('demo', ['demo'])
    >>> store.close()
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from .._paths import ensure_private_dir, sessions_db_path
from ..errors import SessionError
from ._model import Session

#: ``PRAGMA application_id`` of an AERS session database ("AERS" in ASCII).
APPLICATION_ID: Final = 0x41455253
#: How many saved versions of each session are kept (older ones are pruned on save).
KEEP_VERSIONS: Final = 10
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

#: Schema step ``i`` takes ``user_version`` from ``i`` to ``i + 1``.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE sessions (
               name TEXT PRIMARY KEY,
               current_version INTEGER NOT NULL,
               created_at TEXT NOT NULL,
               updated_at TEXT NOT NULL)""",
        """CREATE TABLE session_versions (
               name TEXT NOT NULL,
               version INTEGER NOT NULL,
               format_version TEXT NOT NULL,
               saved_at TEXT NOT NULL,
               position INTEGER NOT NULL,
               body TEXT NOT NULL,
               sha256 TEXT NOT NULL,
               PRIMARY KEY (name, version))""",
    ),
    ("ALTER TABLE sessions ADD COLUMN note TEXT NOT NULL DEFAULT ''",),
)
#: The schema version this AERS creates and reads.
SCHEMA_VERSION: Final = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One row of ``aers session list``."""

    name: str
    version: int
    saved_at: str
    position: int
    note: str
    size: int


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid session name.

    Raises:
        SessionError: empty, too long, or with characters outside ``A-Z a-z 0-9 _ . -``.
    """
    if not _NAME.match(name):
        raise SessionError(
            f"invalid session name {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


class SessionStore:
    """Versioned sessions in one SQLite file; see the module docstring for the guarantees.

    Args:
        path: the database file (``$AERS_HOME/sessions.db`` when None). Opened lazily, on
            the first call that needs it; usable as a context manager that closes it.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or sessions_db_path()
        self._conn: sqlite3.Connection | None = None
        # one connection shared by the threads of this store (a server autosaving while a
        # request lists sessions), serialised here; other processes are serialised by SQLite
        self._lock = threading.RLock()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- opening -----------------------------------------------------------------------

    def inspect(self) -> int:
        """Check, read-only, that the file is ours (or absent/empty); return its schema version.

        Raises:
            SessionError: not SQLite, damaged, another application's database, or a newer
                schema. The file is not modified.
        """
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as err:
            raise SessionError(f"{self.path}: cannot read the session store: {err}") from err
        if size == 0:
            return 0
        with self.path.open("rb") as handle:
            header = handle.read(100)
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise SessionError(
                f"{self.path} is not an AERS session database (not an SQLite file); it was "
                "left untouched — move it away or point $AERS_HOME elsewhere"
            )
        try:
            ro = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                app_id = int(ro.execute("PRAGMA application_id").fetchone()[0])
                version = int(ro.execute("PRAGMA user_version").fetchone()[0])
                tables = [
                    r[0]
                    for r in ro.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' "
                        "AND name NOT LIKE 'sqlite_%'"
                    )
                ]
            finally:
                ro.close()
        except sqlite3.Error as err:
            raise SessionError(
                f"{self.path} is damaged or not a database ({err}); it was left untouched"
            ) from err
        if app_id != APPLICATION_ID and (tables or version or app_id):
            raise SessionError(
                f"{self.path} is an SQLite database of another application "
                f"(application_id {app_id:#x}, tables: {', '.join(tables) or 'none'}); "
                "it was left untouched — move it away or point $AERS_HOME elsewhere"
            )
        if version > SCHEMA_VERSION:
            raise SessionError(
                f"{self.path} has session schema {version}, newer than this AERS reads "
                f"({SCHEMA_VERSION}); upgrade AERS"
            )
        return version

    def _db(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.inspect()
        ensure_private_dir(self.path.parent)
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise SessionError(f"{self.path}: cannot open the session store: {err}") from err
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SessionError(f"{self.path}: the file system does not support WAL mode")
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
            self._migrate()
        except sqlite3.Error as err:
            conn.close()
            self._conn = None
            raise SessionError(f"{self.path}: cannot open the session store: {err}") from err
        except BaseException:
            conn.close()
            self._conn = None
            raise
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back otherwise."""
        with self._lock:
            conn = self._db()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(err, sqlite3.Error):
                    raise SessionError(f"{self.path}: write failed: {err}") from err
                raise

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query; a damaged file becomes a SessionError."""
        with self._lock:
            try:
                return list(self._db().execute(sql, args).fetchall())
            except sqlite3.Error as err:
                raise SessionError(f"{self.path}: cannot read the session store: {err}") from err

    def _migrate(self) -> None:
        with self._write() as conn:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > SCHEMA_VERSION:  # someone upgraded it since inspect()
                raise SessionError(f"{self.path} has a newer session schema ({current})")
            for step in MIGRATIONS[current:]:
                for statement in step:
                    conn.execute(statement)
            if current < SCHEMA_VERSION:
                conn.execute(f"PRAGMA application_id={APPLICATION_ID:d}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION:d}")

    # -- sessions ----------------------------------------------------------------------

    def save(self, session: Session, *, note: str = "") -> int:
        """[main-thread] Store ``session`` as the new current version of its name.

        The previous version stays intact until this transaction commits; at most
        :data:`KEEP_VERSIONS` versions of a name are kept.

        Returns:
            The version number just written (1 for a new name).

        Raises:
            SessionError: invalid name, unusable database, or the write failed.
        """
        check_name(session.name)
        body = json.dumps(session.to_dict(), separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self._write() as conn:
            row = conn.execute(
                "SELECT current_version FROM sessions WHERE name = ?", (session.name,)
            ).fetchone()
            version = (int(row[0]) if row else 0) + 1
            conn.execute(
                "INSERT INTO session_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session.name, version, session.format_version, session.created_at,
                 session.position, body, digest),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO sessions (name, current_version, created_at, updated_at, note) "
                "VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT(name) DO UPDATE SET "
                "current_version = ?2, updated_at = ?3, note = ?4",
                (session.name, version, session.created_at, note),
            )
            conn.execute(
                "DELETE FROM session_versions WHERE name = ? AND version <= ?",
                (session.name, version - KEEP_VERSIONS),
            )
        return version

    def load(self, name: str, version: int | None = None) -> Session:
        """[main-thread] The current (or the given) version of session ``name``.

        Raises:
            SessionError: no such session/version, checksum mismatch, or an unreadable body.
        """
        check_name(name)
        rows = self._read(
            "SELECT v.version, v.body, v.sha256 FROM session_versions v JOIN sessions s "
            "ON s.name = v.name WHERE v.name = ? AND v.version = COALESCE(?, s.current_version)",
            (name, version),
        )
        row = rows[0] if rows else None
        if row is None:
            which = f"version {version} of " if version is not None else ""
            raise SessionError(f"no {which}session named {name!r} (see: aers session list)")
        got, body, digest = int(row[0]), str(row[1]), str(row[2])
        where = f"session {name!r} (version {got})"
        if hashlib.sha256(body.encode()).hexdigest() != digest:
            raise SessionError(f"{where} is damaged: its checksum does not match")
        try:
            data = json.loads(body)
        except json.JSONDecodeError as err:
            raise SessionError(f"{where} is damaged: {err}") from err
        return Session.from_dict(data, where=where)

    def list(self) -> list[SessionInfo]:
        """[main-thread] Every session's current version, by name.

        Raises:
            SessionError: the database is unusable.
        """
        rows = self._read(
            "SELECT s.name, s.current_version, v.saved_at, v.position, s.note, "
            "length(v.body) FROM sessions s JOIN session_versions v "
            "ON v.name = s.name AND v.version = s.current_version ORDER BY s.name"
        )
        return [SessionInfo(r[0], int(r[1]), r[2], int(r[3]), r[4], int(r[5])) for r in rows]

    def delete(self, name: str) -> None:
        """[main-thread] Remove session ``name`` and all its versions.

        Raises:
            SessionError: no such session, or the database is unusable.
        """
        check_name(name)
        with self._write() as conn:
            if conn.execute("DELETE FROM sessions WHERE name = ?", (name,)).rowcount == 0:
                raise SessionError(f"no session named {name!r} (see: aers session list)")
            conn.execute("DELETE FROM session_versions WHERE name = ?", (name,))

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result (``"ok"`` when the file is sound)."""
        return "\n".join(str(r[0]) for r in self._read("PRAGMA integrity_check"))
