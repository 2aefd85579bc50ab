"""Where AERS keeps per-user state, and the one way it writes a file there.

Invariants:

* ``$AERS_HOME``, when set (and not empty), is the root of everything: the keyring
  (``$AERS_HOME/keyring.json``), the plugin store (``$AERS_HOME/plugins/``), generated keys
  (``$AERS_HOME/keys/``), sessions (``$AERS_HOME/sessions.db``) and compiled code
  (``$AERS_HOME/cache/``). Tests and demos point it at a scratch folder so they never
  touch the user's real trust decisions.
* Otherwise configuration (keyring, keys) lives in ``platformdirs.user_config_dir("aers")``,
  data (plugin store, sessions) in ``platformdirs.user_data_dir("aers")`` and code that
  can be rebuilt in ``platformdirs.user_cache_dir("aers")``.
* Nothing here creates a folder on import; callers create what they write into.
* :func:`atomic_write` is the only way state files are written: a reader sees the old
  content or the new one, never a torn file.

Example:
    >>> import os
    >>> os.environ["AERS_HOME"] = "/tmp/aers-doc"
    >>> str(keyring_path()), str(plugin_store_dir())
    ('/tmp/aers-doc/keyring.json', '/tmp/aers-doc/plugins')
    >>> del os.environ["AERS_HOME"]
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "aers"
#: Environment variable that relocates every per-user file of AERS.
HOME_ENV = "AERS_HOME"


def aers_home() -> Path | None:
    """The ``$AERS_HOME`` override, or None when it is not set."""
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Folder for trust decisions and keys (``$AERS_HOME`` or the user config dir)."""
    return aers_home() or Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    """Folder for installed plugins and sessions (``$AERS_HOME`` or the user data dir)."""
    return aers_home() or Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Folder for what AERS can rebuild (compiled lane programs): safe to delete."""
    home = aers_home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))


def keyring_path() -> Path:
    """The keyring file: trusted public keys with their scope, and revoked key ids."""
    return config_dir() / "keyring.json"


def keys_dir() -> Path:
    """Default folder for keys made by ``aers keys generate``."""
    return config_dir() / "keys"


def plugin_store_dir() -> Path:
    """The plugin store: one folder per installed, signed plugin."""
    return data_dir() / "plugins"


def sessions_db_path() -> Path:
    """The SQLite file that holds saved sessions."""
    return data_dir() / "sessions.db"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user only, and return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk so a rename in it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively (never through a symlink) with ``mode``, durably.

    The mode applies from creation, so a private key is never readable by others, not even
    for an instant, and an existing file is never overwritten.

    Raises:
        FileExistsError: ``path`` exists (or is a dangling symlink).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half of one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the
    temporary file is renamed over ``path`` (``os.replace`` is atomic on POSIX). A symlink
    at ``path`` is written through (the link stays); anything else that is not a regular
    file (a FIFO, a device, a folder) is refused rather than replaced.

    Args:
        path: the file to write; its folder is created (user-only) if missing.
        data: the complete new content.
        mode: permission bits of the new file (user-only by default: these are trust state).

    Raises:
        OSError: ``path`` is not a regular file, the folder is not writable or the disk is
            full (naming ``path``); ``path`` is then unchanged.
    """
    shown = str(path)
    path = Path(os.path.realpath(path))
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError(errno.EINVAL, "not a regular file; refusing to replace it", shown)
    try:
        ensure_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OSError(err.errno, err.strerror, shown) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror, shown) from err
        raise
    fsync_dir(path.parent)
