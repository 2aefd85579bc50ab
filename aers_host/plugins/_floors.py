"""Version floors: the highest version of each plugin ever installed, kept across removal.

The rollback check compares a plugin with the installed copy of the same name. Without a
floor, ``aers plugin remove NAME`` followed by installing an older, still validly signed
version (one with a known hole) would pass: nothing installed, nothing to roll back from.
As python-tuf's client keeps its trusted metadata versions, the store keeps, per plugin
name, the version and content digest of the newest copy it ever installed, in
``<store>/.floors.json``. Only an explicit ``aers plugin install --allow-downgrade`` lowers
a floor (see ``docs/plugins.md``, "Rollback and version floors").

File format::

    {"version": 1, "floors": {"acme-tremolo": {"version": "1.2.0", "digest": "<sha256>"}}}

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / ".floors.json"
    >>> raise_floor(path, "fx", InstalledRef("1.2.0", "ab" * 32))
    >>> raise_floor(path, "fx", InstalledRef("1.0.0", "cd" * 32))  # lower: kept at 1.2.0
    >>> read_floors(path)["fx"].version
    '1.2.0'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from .._files import TooLarge, read_bounded
from .._paths import atomic_write
from ..errors import ManifestError, TrustError
from ._manifest import compare_versions, parse_json_strict
from ._trust import InstalledRef

FLOORS_FILE: Final = ".floors.json"
FLOORS_FORMAT: Final = 1
#: Largest floors file read (one short entry per plugin name ever installed).
MAX_FLOORS_BYTES: Final = 4 * 1024 * 1024


def read_floors(path: Path) -> dict[str, InstalledRef]:
    """Every floor in ``path`` (none when the file does not exist yet).

    Raises:
        TrustError: the file exists but cannot be read or is not a floors file (fail
            closed: a damaged floor must not silently allow a rollback).
    """
    try:
        document = parse_json_strict(read_bounded(path, MAX_FLOORS_BYTES), str(path))
    except FileNotFoundError:
        return {}
    except (TooLarge, OSError, ManifestError) as err:
        raise TrustError(f"{path}: cannot read the plugin version floors ({err})") from err
    floors = document.get("floors") if isinstance(document, dict) else None
    if document.get("version") != FLOORS_FORMAT or not isinstance(floors, dict):
        raise TrustError(f"{path}: not a version-floors file of format {FLOORS_FORMAT}")
    result = {}
    for name, entry in floors.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("version"), str)
            and isinstance(entry.get("digest"), str)
        ):
            raise TrustError(f"{path}: floor of {name!r} is not {{version, digest}}")
        result[name] = InstalledRef(entry["version"], entry["digest"])
    return result


def raise_floor(path: Path, name: str, ref: InstalledRef, *, lower: bool = False) -> None:
    """Record ``ref`` as the floor of ``name`` if it is newer (or ``lower``: whatever it is).

    The caller holds the store's write lock, so two writers never interleave.

    Raises:
        TrustError: the existing file is damaged (see :func:`read_floors`).
        OSError: the file cannot be written.
    """
    floors = read_floors(path)
    old = floors.get(name)
    if not lower and old is not None and compare_versions(ref.version, old.version) <= 0:
        return
    floors[name] = InstalledRef(ref.version, ref.digest)
    document = {
        "version": FLOORS_FORMAT,
        "floors": {
            n: {"version": r.version, "digest": r.digest} for n, r in sorted(floors.items())
        },
    }
    atomic_write(path, json.dumps(document, indent=1).encode() + b"\n", mode=0o600)
