"""Plugin discovery, registry and the chain of trust (manifests, keys, keyring, store).

Public surface only; the implementation lives in the private modules named below.
"""

from .._hooks import ENTRY_POINT_GROUP, hookimpl, hookspec
from ._discovery import BrokenPluginType, StoreHooks, StorePluginType
from ._keyring import Keyring, TrustedKey, load_keyring, save_keyring
from ._keys import key_id, write_keypair
from ._manifest import (
    MANIFEST_FILE,
    SOURCE_FILE,
    SPEC_VERSION,
    Limits,
)
from ._model import Manifest, SignedPart, canonical_bytes
from ._registry import (
    NodeRegistry,
    build_registry,
    collect,
    entry_point_names,
)
from ._store import PluginStore, read_plugin_dir
from ._trust import InstalledRef, PluginVerifier
from ._verified import VerifiedPlugin

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_FILE",
    "SOURCE_FILE",
    "SPEC_VERSION",
    "BrokenPluginType",
    "InstalledRef",
    "Keyring",
    "Limits",
    "Manifest",
    "NodeRegistry",
    "PluginStore",
    "PluginVerifier",
    "SignedPart",
    "StoreHooks",
    "StorePluginType",
    "TrustedKey",
    "VerifiedPlugin",
    "build_registry",
    "canonical_bytes",
    "collect",
    "entry_point_names",
    "hookimpl",
    "hookspec",
    "key_id",
    "load_keyring",
    "read_plugin_dir",
    "save_keyring",
    "write_keypair",
]
