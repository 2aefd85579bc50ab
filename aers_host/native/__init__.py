"""Native C++ effects through the versioned AERS C ABI (``aers_plugin.h``), loaded with ctypes.

Only verified bytes are ever loaded (see ``_library``), and only in-process: a native plugin
needs a signature by a key trusted for ``native``.
"""

from ._build import build_plugin, include_dir
from ._library import NativeLibrary, NativeParam, open_library
from ._loader import load_native_plugin
from ._processor import NativeProcessor

__all__ = [
    "NativeLibrary",
    "NativeParam",
    "NativeProcessor",
    "build_plugin",
    "include_dir",
    "load_native_plugin",
    "open_library",
]
