"""Sessions as YAML files: ``aers session export NAME --yaml FILE`` and ``import FILE``.

The YAML is the session document (:meth:`Session.to_dict`) with one change that keeps it
small and exact: every list of 16 or more floats inside the node states (delay lines,
reverb buffers) is written as ``{$f64: <base64 of little-endian float64>}``. The rest —
config, flags, positions, parameter values — stays readable and editable.

Import is as strict as loading a config: the file is parsed by the config parser (size
cap, alias-bomb guard, duplicate keys refused), the session fields are checked, and the
embedded config is validated against the node types, with every problem reported as
``FILE:LINE: path: message``.

Example:
    >>> pack([0.5] * 16)["$f64"][:8]
    'AAAAAAAA'
    >>> unpack(pack([0.5] * 16)) == [0.5] * 16
    True
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import yaml

from .._files import TooLarge, read_bounded
from .._nodetype import NodeType
from ..config import ParsedDocument, parse_text, validate_config_data
from ..errors import SessionError
from ._model import Session

#: Shortest float list written as base64 (shorter ones stay readable).
PACK_MIN: Final = 16
#: Largest session YAML file read at all.
MAX_SESSION_BYTES: Final = 256 * 1024 * 1024
_PACKED: Final = "$f64"


def pack(value: Any) -> Any:
    """Replace long float lists in ``value`` (recursively) by base64 float64 blobs."""
    if isinstance(value, list):
        if len(value) >= PACK_MIN and all(type(v) is float for v in value):
            raw = np.asarray(value, dtype="<f8").tobytes()
            return {_PACKED: base64.b64encode(raw).decode("ascii")}
        return [pack(v) for v in value]
    if isinstance(value, dict):
        return {k: pack(v) for k, v in value.items()}
    return value


def unpack(value: Any) -> Any:
    """Undo :func:`pack`.

    Raises:
        SessionError: a packed blob is not valid base64 of float64 values.
    """
    if isinstance(value, dict):
        if set(value) == {_PACKED}:
            try:
                raw = base64.b64decode(str(value[_PACKED]), validate=True)
                array = np.frombuffer(raw, dtype="<f8")
            except ValueError as err:
                raise SessionError(f"damaged packed array in session state: {err}") from err
            return [float(v) for v in array]
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v) for v in value]
    return value


def export_yaml(session: Session, path: Path) -> None:
    """Write ``session`` to ``path`` as YAML (replaced atomically).

    Raises:
        OSError: the file cannot be written.
    """
    from .._paths import atomic_write

    doc = session.to_dict()
    for key in ("nodes", "edges"):
        doc[key] = pack(doc[key])
    text = "# AERS session — import with: aers session import FILE\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=100
    )
    atomic_write(path, text.encode("utf-8"), mode=0o644)


def import_yaml(
    path: Path, *, registry: Mapping[str, NodeType], name: str | None = None
) -> Session:
    """Read and validate a session YAML file.

    Args:
        path: the file written by :func:`export_yaml` (or by hand).
        registry: node types the embedded config may use.
        name: store it under this name instead of the file's ``name``.

    Raises:
        ConfigError: YAML syntax, or problems in the embedded config (``FILE:LINE``).
        SessionError: unreadable file, wrong format version or field types.
    """
    where = str(path)
    try:
        text = read_bounded(path, MAX_SESSION_BYTES).decode("utf-8")
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it
    except TooLarge as err:
        raise SessionError(f"{where}: larger than {MAX_SESSION_BYTES >> 20} MiB") from err
    except (OSError, UnicodeDecodeError) as err:
        raise SessionError(f"{where}: cannot read session file: {err}") from err
    doc = parse_text(text, where)
    data = doc.data
    if isinstance(data, dict):
        data = {**data, "nodes": unpack(data.get("nodes", {})),
                "edges": unpack(data.get("edges", {}))}  # fmt: skip
        if name is not None:
            data["name"] = name
    session = _checked(data, where, doc)
    config_doc = ParsedDocument(
        dict(session.config),
        where,
        {k.removeprefix("config."): v for k, v in doc.lines.items() if k.startswith("config.")},
    )
    config_doc.lines.setdefault("", doc.lines.get("config", 0))
    validate_config_data(config_doc, registry=registry, base_dir=Path(session.base_dir))
    return session


def _checked(data: Any, where: str, doc: ParsedDocument) -> Session:
    """Build the session; a field error names the file and the line of the field."""
    try:
        return Session.from_dict(data, where=where)
    except SessionError as err:
        message = str(err).removeprefix(f"{where}: ")
        fields = ("format_version", "session format", "name", "config", "position", "plugins")
        field = next((f for f in fields if f in message), "")
        line = doc.line_of(field.replace("session format", "format_version"))
        raise SessionError(f"{where}:{line}: {message}" if line else str(err)) from err
