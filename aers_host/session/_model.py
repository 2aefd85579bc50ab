"""The session document: everything needed to continue a graph exactly where it stopped.

A session is plain JSON-compatible data with a ``format_version`` of ``MAJOR.MINOR``:

* a different MAJOR is refused (the meaning of fields changed);
* a newer MINOR is accepted: fields this version does not know are kept in
  :attr:`Session.extra` and written back unchanged, so an older AERS never strips what a
  newer one saved (python-tuf's ``unrecognized_fields``);
* every known field is type-checked on the way in, so a hand-edited or damaged document
  fails with a :class:`~aers_host.errors.SessionError` naming the field, never later.

Example:
    >>> s = Session.from_dict({"format_version": "1.7", "name": "demo", "config": {},
    ...                        "position": 0, "future": 1})
    >>> s.extra, s.to_dict()["future"]
    ({'future': 1}, 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from ..errors import SessionError

#: Version of the session document this AERS writes.
FORMAT_VERSION: Final = "1.0"
_MAJOR: Final = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class PluginFingerprint:
    """Which build of a non-built-in node type a session was made with."""

    #: Where the type came from: ``store`` or ``entry-point:<dist>``.
    source: str
    #: The plugin's version ("" when its source does not say).
    version: str
    #: SHA-256 of the plugin's signed manifest content ("" when not a store plugin).
    digest: str

    def to_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"source": self.source, "version": self.version, "digest": self.digest}


@dataclass(frozen=True, slots=True)
class Session:
    """A saved graph state; see the module docstring for the versioning rules.

    Attributes:
        name: the session's name in the store.
        config: the original config document (``GraphConfig.data``).
        base_dir: folder relative paths in ``config`` resolve against.
        position: absolute sample index of the next block to render.
        nodes: node id → the processor's ``get_state()``.
        edges: node id → saved latency-compensation lines (see ``Engine.state``).
        flags: node id → ``{"bypass", "mute", "solo"}``.
        scene: the event scene (inline ``events``, ``scene`` path, ``routing``) and its
            position.
        plugins: node type name → the plugin build it was made with.
        created_at: ISO-8601 UTC time of the save.
        format_version: ``MAJOR.MINOR`` of the document.
        extra: fields from a newer minor version, kept for the round trip.
    """

    name: str
    config: Mapping[str, Any]
    position: int = 0
    base_dir: str = "."
    nodes: Mapping[str, Any] = field(default_factory=dict)
    edges: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)
    scene: Mapping[str, Any] = field(default_factory=dict)
    plugins: Mapping[str, PluginFingerprint] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    format_version: str = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def engine_state(self) -> dict[str, Any]:
        """The ``Engine.restore`` argument this session describes."""
        return {
            "position": self.position,
            "nodes": dict(self.nodes),
            "edges": dict(self.edges),
            "flags": {k: {"bypass": v.get("bypass", False), "mute": v.get("mute", False)}
                      for k, v in self.flags.items()},
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible document (unknown fields from newer versions included)."""
        return {
            **self.extra,
            "format_version": self.format_version,
            "name": self.name,
            "created_at": self.created_at,
            "position": self.position,
            "base_dir": self.base_dir,
            "config": dict(self.config),
            "nodes": dict(self.nodes),
            "edges": dict(self.edges),
            "flags": dict(self.flags),
            "scene": dict(self.scene),
            "plugins": {k: v.to_dict() for k, v in self.plugins.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "session") -> Session:
        """Check and build a session from its document.

        Raises:
            SessionError: not a mapping, another major version, or a field of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise SessionError(f"{where}: a session must be a mapping, got {type(data).__name__}")
        check_format_version(data.get("format_version"), where)
        _expect(data, "name", str, where, required=True)
        _expect(data, "config", Mapping, where, required=True)
        _expect(data, "position", int, where)
        if isinstance(data.get("position"), bool) or int(data.get("position", 0)) < 0:
            raise SessionError(f"{where}: position must be a sample index ≥ 0")
        for key in ("nodes", "edges", "flags", "scene", "plugins"):
            _expect(data, key, Mapping, where)
        for key in ("base_dir", "created_at"):
            _expect(data, key, str, where)
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            name=data["name"],
            config=dict(data["config"]),
            position=int(data.get("position", 0)),
            base_dir=str(data.get("base_dir", ".")),
            nodes=dict(data.get("nodes", {})),
            edges=dict(data.get("edges", {})),
            flags=dict(data.get("flags", {})),
            scene=dict(data.get("scene", {})),
            plugins=_fingerprints(data.get("plugins", {}), where),
            created_at=str(data.get("created_at", _now())),
            format_version=str(data["format_version"]),
            extra={k: v for k, v in data.items() if k not in known},
        )


def check_format_version(value: Any, where: str = "session") -> tuple[int, int]:
    """Parse ``MAJOR.MINOR`` and refuse another major version.

    Raises:
        SessionError: missing, malformed or of another major version.
    """
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise SessionError(
            f"{where}: format_version must be 'MAJOR.MINOR' (this AERS writes "
            f"{FORMAT_VERSION!r}), got {value!r}"
        )
    major, minor = int(parts[0]), int(parts[1])
    if major != _MAJOR:
        raise SessionError(
            f"{where}: session format {value} is not readable by this AERS, which reads "
            f"{_MAJOR}.x; {'upgrade AERS' if major > _MAJOR else 'the session is too old'}"
        )
    return major, minor


def _expect(
    data: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = False
) -> None:
    if key not in data:
        if required:
            raise SessionError(f"{where}: missing field {key!r}")
        return
    if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
        raise SessionError(
            f"{where}: field {key!r} must be {kind.__name__}, got {type(data[key]).__name__}"
        )


def _fingerprints(raw: Mapping[str, Any], where: str) -> dict[str, PluginFingerprint]:
    result: dict[str, PluginFingerprint] = {}
    for name, value in raw.items():
        if not isinstance(value, Mapping):
            raise SessionError(f"{where}: plugins.{name} must be a mapping")
        result[str(name)] = PluginFingerprint(
            str(value.get("source", "")), str(value.get("version", "")),
            str(value.get("digest", "")),
        )  # fmt: skip
    return result
