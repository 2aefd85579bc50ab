"""Saved sessions: a versioned SQLite store (WAL, migrations) and YAML export/import.

Public surface only; see ``_model`` (the document and its versioning), ``_store`` (the
database and its durability guarantees), ``_yaml`` (files) and ``_capture`` (graph ↔ session).
"""

from ._capture import (
    PluginChangedWarning,
    check_plugins,
    plugin_changes,
    plugin_fingerprints,
    session_config,
    session_from_state,
)
from ._model import FORMAT_VERSION, PluginFingerprint, Session
from ._store import (
    APPLICATION_ID,
    KEEP_VERSIONS,
    MIGRATIONS,
    SCHEMA_VERSION,
    SessionInfo,
    SessionStore,
    check_name,
)
from ._yaml import export_yaml, import_yaml, pack, unpack

__all__ = [
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "KEEP_VERSIONS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PluginChangedWarning",
    "PluginFingerprint",
    "Session",
    "SessionInfo",
    "SessionStore",
    "check_name",
    "check_plugins",
    "export_yaml",
    "import_yaml",
    "pack",
    "plugin_changes",
    "plugin_fingerprints",
    "session_config",
    "session_from_state",
    "unpack",
]
