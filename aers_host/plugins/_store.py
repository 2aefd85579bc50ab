"""The I/O edge of the chain of trust: read plugin folders safely, install, list, remove.

Invariants:

* A plugin folder is read once, through directory file descriptors with ``O_NOFOLLOW``:
  a symlink, device, fifo or socket anywhere inside it is refused (never followed), hidden
  entries and ``__pycache__`` are refused with a clear message, and every regular file's
  bytes are read exactly once. Those bytes are what the verifier hashes and what loaders
  get, so swapping a file afterwards changes nothing.
* Install = read → verify → write the *verified bytes* into ``store/.staging-XXXX/``,
  fsync → rename into ``store/<name>/``. A failure at any point removes the staging folder,
  leaving the store exactly as it was. Replacing an installed version moves the old copy
  aside first and deletes it only after the new one is in place.
* Writers (install, remove) hold ``store/.lock`` (``flock``), and install re-checks the
  installed version under the lock, so two concurrent installs cannot both pass the
  rollback check against the same old version.
* Each name's version floor (``store/.floors.json``, :mod:`._floors`) is raised by every
  install and kept by ``remove``, so removing a plugin never reopens a rollback.
* Every load re-reads and re-verifies the installed copy (:func:`load_installed`); the
  store on disk is never trusted on its own.

Example:
    >>> import tempfile, pathlib
    >>> store = PluginStore(pathlib.Path(tempfile.mkdtemp()))
    >>> store.names()
    []
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from .._paths import ensure_private_dir, fsync_dir, plugin_store_dir, write_new_file
from ..errors import ManifestError, PluginError, TrustError
from ._floors import FLOORS_FILE, raise_floor, read_floors
from ._keyring import Keyring, load_keyring
from ._manifest import DEFAULT_LIMITS, MANIFEST_FILE, Limits, parse_manifest, relpath_problem
from ._trust import InstalledRef, PluginVerifier, content_digest
from ._verified import VerifiedPlugin

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass(frozen=True, slots=True)
class PluginFiles:
    """A plugin folder as bytes: its manifest (None when absent) and every other file."""

    root: Path
    manifest: bytes | None
    files: dict[str, bytes] = field(default_factory=dict)


def read_plugin_dir(root: Path, limits: Limits = DEFAULT_LIMITS) -> PluginFiles:
    """Read every file of a plugin folder once, refusing anything that is not a plain file.

    Args:
        root: the plugin folder (itself may be reached through a symlink; its content not).
        limits: caps on file count and sizes.

    Returns:
        The manifest bytes and relative path → bytes of every other file.

    Raises:
        PluginError: ``root`` is not a readable folder.
        TrustError: symlinks, special files, hidden entries or caps exceeded (all listed).
    """
    source, problems = scan_plugin_dir(root, limits)
    if problems:
        raise TrustError("\n".join(problems))
    return source


def scan_plugin_dir(
    root: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[PluginFiles, list[str]]:
    """Like :func:`read_plugin_dir`, but return the folder's problems instead of raising.

    Each problem reads ``root: what``; the regular files are returned beside them, so a
    caller can report those files' problems in the same run.

    Raises:
        PluginError: ``root`` is not a readable folder.
    """
    problems: list[str] = []
    files: dict[str, bytes] = {}
    try:
        fd = os.open(root.resolve(strict=True), _DIR_FLAGS)
    except OSError as err:
        raise PluginError(f"{root}: not a readable plugin folder ({err.strerror})") from err
    try:
        _walk(fd, "", files, problems, limits)
    finally:
        os.close(fd)
    manifest = files.pop(MANIFEST_FILE, None)
    return PluginFiles(root=root, manifest=manifest, files=files), [
        f"{root}: {p}" for p in problems
    ]


def _walk(
    dir_fd: int, prefix: str, files: dict[str, bytes], problems: list[str], limits: Limits
) -> None:
    """Depth-first read below ``dir_fd``; ``prefix`` is its relative path (with '/')."""
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        rel = prefix + name
        why = relpath_problem(rel)
        if why or name == "__pycache__":
            problems.append(f"{rel}: {why or 'is a bytecode cache'}; remove it from the folder")
            continue
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as err:
            problems.append(f"{rel}: cannot stat ({err.strerror})")
            continue
        if stat.S_ISLNK(info.st_mode):
            problems.append(f"{rel}: is a symlink; plugin folders hold regular files only")
        elif stat.S_ISDIR(info.st_mode):
            sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                _walk(sub, rel + "/", files, problems, limits)
            finally:
                os.close(sub)
        elif not stat.S_ISREG(info.st_mode):
            problems.append(f"{rel}: is not a regular file")
        elif len(files) >= limits.max_files:
            problems.append(f"{rel}: more than {limits.max_files} files")
            return
        else:
            data = _read_regular(name, dir_fd, rel, problems, limits)
            if data is not None:
                files[rel] = data


def _read_regular(
    name: str, dir_fd: int, rel: str, problems: list[str], limits: Limits
) -> bytes | None:
    """Open without following links, re-check on the open file, read once, within the cap."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as err:  # ELOOP: it became a symlink after the stat
        problems.append(f"{rel}: cannot open safely ({err.strerror})")
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{rel}: is not a regular file")
            return None
        data = handle.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        problems.append(f"{rel}: larger than the {limits.max_file_bytes}-byte cap")
        return None
    return data


@dataclass(frozen=True, slots=True)
class StoreEntry:
    """One installed plugin as ``aers plugin list`` sees it: verified, or why not."""

    name: str
    plugin: VerifiedPlugin | None
    error: PluginError | None


class PluginStore:
    """The folder of installed, signed plugins (``$AERS_HOME/plugins`` by default).

    Args:
        root: the store folder; created (user-only) on first install.
        keyring: the keyring snapshot to verify with (loaded lazily when None).
        now: verification time (the current time when None).
        reserved: names plugins may not take: the built-ins' (``aers_host.builtin_names()``),
            handed in so the store imports none of the packages that define them.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        keyring: Keyring | None = None,
        now: datetime | None = None,
        reserved: frozenset[str],
    ) -> None:
        self.root = root or plugin_store_dir()
        self._keyring = keyring
        self._now = now
        self._reserved = reserved
        self._verifier: PluginVerifier | None = None

    def verifier(self) -> PluginVerifier:
        """The verifier of this store: one keyring snapshot and one instant per instance."""
        if self._verifier is None:
            self._verifier = PluginVerifier(
                self._keyring if self._keyring is not None else load_keyring(),
                now=self._now or datetime.now(UTC),
                reserved=self._reserved,
            )
        return self._verifier

    def names(self) -> list[str]:
        """Names of the installed plugins (folders that are not staging or trash)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and not p.is_symlink() and p.is_dir()
        )

    def verify_dir(self, path: Path, *, allow_downgrade: bool = False) -> VerifiedPlugin:
        """Verify a plugin folder without installing it, as :meth:`install` would.

        That includes the rollback check against the installed copy of the same name (a
        folder that *is* the installed copy compares equal to itself and passes) and
        against its version floor, which outlives ``remove`` (:mod:`._floors`).

        Raises:
            PluginError: any subclass, as :meth:`PluginVerifier.verify` documents.
        """
        return self._verified(path, allow_downgrade)[1]

    def version_floor(self, name: str) -> InstalledRef | None:
        """The newest version of ``name`` this store ever installed, if it is not installed now.

        Raises:
            TrustError: the floors file is damaged (fail closed).
        """
        floor = read_floors(self.root / FLOORS_FILE).get(name)
        return None if floor is None else InstalledRef(floor.version, floor.digest, removed=True)

    def _verified(
        self, path: Path, allow_downgrade: bool = False
    ) -> tuple[bytes, VerifiedPlugin, InstalledRef | None]:
        """Manifest bytes, verified plugin and the installed copy checked for rollback.

        The rollback reference is the installed copy or, when nothing of that name is
        installed, its version floor; ``allow_downgrade`` (the user's explicit choice)
        skips the rollback check.

        A folder holding symlinks or special files is refused, but its regular files are
        still verified, so one run lists those problems *and* any tampered or extra file.

        Raises:
            TrustError: the folder's own problems, with whatever verification found.
            PluginError: as :meth:`PluginVerifier.verify` documents, for a clean folder.
        """
        source, problems = scan_plugin_dir(path)
        try:
            manifest = source.manifest
            if manifest is None:
                raise ManifestError(f"{path}: no {MANIFEST_FILE} (sign it: aers plugin sign)")
            # Parsed here only to learn which installed copy to compare with; the verifier
            # parses again from the same bytes (cheap: the manifest is capped at 1 MiB).
            name = parse_manifest(manifest).name
            installed = self.installed_ref(name)
            reference = None if allow_downgrade else installed or self.version_floor(name)
            plugin = self.verifier().verify(manifest, source.files, installed=reference)
        except PluginError as err:
            if not problems:
                raise
            raise TrustError("\n".join([*problems, str(err)])) from err
        if problems:
            raise TrustError("\n".join(problems))
        return manifest, plugin, installed

    def installed_ref(self, name: str) -> InstalledRef | None:
        """Version and content digest of the installed ``name``, for rollback checks."""
        try:
            manifest = parse_manifest((self.root / name / MANIFEST_FILE).read_bytes())
        except (OSError, ManifestError):
            return None  # nothing (readable) installed: there is nothing to roll back from
        return InstalledRef(manifest.version, content_digest(manifest.signed))

    def install(
        self,
        path: Path,
        *,
        check: Callable[[VerifiedPlugin], object] | None = None,
        allow_downgrade: bool = False,
    ) -> VerifiedPlugin:
        """Verify ``path`` and install its verified bytes atomically.

        The plugin's version floor rises to the installed version (an explicit
        ``allow_downgrade`` sets it to that version even when lower).

        Args:
            path: the signed plugin folder.
            check: called with the verified plugin before anything is written; whatever
                it raises refuses the install (the CLI loads native libraries here).
            allow_downgrade: install even when older than the installed copy or the
                version floor (the user's explicit choice; ``--allow-downgrade``).

        Raises:
            PluginError: verification failed (any subclass), or the store could not be
                written (disk full, file-size limit, permissions); the store is unchanged.
        """
        self._recover_if_present()  # first: a version stranded by a crash counts as installed
        manifest, plugin, installed = self._verified(path, allow_downgrade)
        if check is not None:
            check(plugin)
        name = plugin.name
        with self._locked():
            if self.installed_ref(name) != installed:  # another install won the race
                raise PluginError(f"{name}: the store changed during install; try again")
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
            try:
                for rel, data in {**plugin.files, MANIFEST_FILE: manifest}.items():
                    (staging / rel).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    write_new_file(staging / rel, data, 0o600)
                fsync_dir(staging)
                digest = content_digest(parse_manifest(manifest).signed)
                floor = InstalledRef(plugin.version, digest)
                raise_floor(self.root / FLOORS_FILE, name, floor, lower=allow_downgrade)
                self._swap_in(staging, self.root / plugin.name)
            except OSError as err:
                raise PluginError(
                    f"{name}: cannot write into the plugin store {self.root}: "
                    f"{err.strerror or err}; nothing was installed"
                ) from err
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return plugin

    def _recover_if_present(self) -> None:
        """:meth:`_recover` under the lock, when the store exists (a refusal creates nothing)."""
        if self.root.is_dir():
            with self._locked():
                self._recover()

    def _recover(self) -> None:
        """[under the lock] Clear what an install killed midway left behind.

        A ``.staging-*`` folder is an install that never reached its rename: deleted. A
        ``.trash-*`` folder holds a replaced version; if the process died between moving it
        aside and renaming the new one in, the plugin's own folder is missing and the old
        version goes back, otherwise the trash is deleted.
        """
        for leftover in self.root.glob(".staging-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for trash in self.root.glob(".trash-*"):
            old = trash / "old"
            try:
                name = parse_manifest((old / MANIFEST_FILE).read_bytes()).name
            except (OSError, ManifestError):
                name = ""
            if name and not relpath_problem(name) and not (self.root / name).exists():
                os.rename(old, self.root / name)
            shutil.rmtree(trash, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's write lock (``.lock``), so concurrent installs serialise."""
        ensure_private_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _swap_in(self, staging: Path, target: Path) -> None:
        """Rename ``staging`` to ``target``, moving an existing ``target`` aside first."""
        with self._aside(target):
            os.rename(staging, target)
        fsync_dir(self.root)

    @contextlib.contextmanager
    def _aside(self, target: Path) -> Iterator[None]:
        """Move ``target`` to a trash name; restore it on failure, delete it on success."""
        if not target.exists():
            yield
            return
        trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.root)) / "old"
        os.rename(target, trash)
        try:
            yield
        except BaseException:
            os.rename(trash, target)
            raise
        finally:
            shutil.rmtree(trash.parent, ignore_errors=True)

    def remove(self, name: str) -> None:
        """Uninstall ``name`` (it disappears in one rename, then is deleted).

        Its version floor stays (:mod:`._floors`): an older version cannot be installed
        in its place without ``allow_downgrade``.

        Raises:
            PluginError: no plugin of that name is installed.
            TrustError: the floors file is damaged.
        """
        target = self.root / name
        self._recover_if_present()
        if relpath_problem(name) or "/" in name or not target.is_dir():
            raise PluginError(f"no installed plugin named {name!r} (see: aers plugin list)")
        with self._locked():
            installed = self.installed_ref(name)
            if installed is not None:  # a copy installed before floors existed gets one now
                raise_floor(self.root / FLOORS_FILE, name, installed)
            with self._aside(target):
                pass
        fsync_dir(self.root)

    def load_installed(self, name: str) -> VerifiedPlugin:
        """Re-read and re-verify the installed ``name``: what every run does before use.

        Raises:
            PluginError: missing, or no longer verifies (tampered, key revoked, expired).
        """
        return self.verify_dir(self.root / name)

    def entries(self) -> list[StoreEntry]:
        """Every installed plugin, verified now, with the error for those that fail."""
        result = []
        for name in self.names():
            try:
                result.append(StoreEntry(name, self.load_installed(name), None))
            except PluginError as err:
                result.append(StoreEntry(name, None, err))
        return result
