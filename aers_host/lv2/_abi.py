"""ctypes mirror of the LV2 C API a host needs for effects, and the features this host offers.

Mirrors ``lv2/core/lv2.h`` (``LV2_Descriptor``, ``LV2_Feature``), ``urid.h``
(``LV2_URID_Map``/``Unmap``), ``options.h`` (``LV2_Options_Option``), ``state.h``
(``LV2_State_Interface``) and ``atom.h`` (an empty ``LV2_Atom_Sequence``). A test compiles a
probe against Debian's ``lv2-dev`` headers and compares every size and offset.

:class:`HostFeatures` owns the feature array handed to ``instantiate`` and everything it
points to (URID tables, option values, callbacks): ctypes objects must outlive the plugin
instance, so the processor keeps its :class:`HostFeatures` for the instance's lifetime.
Offered: ``urid:map``, ``urid:unmap``, ``options:options`` (sample rate, min/max/nominal
block length, sequence size) and ``buf-size:boundedBlockLength``. A plugin requiring
anything else is refused at adopt (:data:`SUPPORTED_FEATURES`).
"""

from __future__ import annotations

import ctypes
from typing import Final

_URID: Final = "http://lv2plug.in/ns/ext/urid#"
_BUFSZ: Final = "http://lv2plug.in/ns/ext/buf-size#"
_ATOM: Final = "http://lv2plug.in/ns/ext/atom#"
URID_MAP: Final = _URID + "map"
URID_UNMAP: Final = _URID + "unmap"
OPTIONS: Final = "http://lv2plug.in/ns/ext/options#options"
BOUNDED_BLOCK_LENGTH: Final = _BUFSZ + "boundedBlockLength"
STATE_INTERFACE: Final = "http://lv2plug.in/ns/ext/state#interface"
#: Features a plugin may require (``lv2:requiredFeature``) and still be adopted.
SUPPORTED_FEATURES: Final = frozenset({
    URID_MAP, URID_UNMAP, OPTIONS, BOUNDED_BLOCK_LENGTH,
    "http://lv2plug.in/ns/lv2core#hardRTCapable",  # a plugin property some list as a feature
    "http://lv2plug.in/ns/lv2core#isLive",
})  # fmt: skip
STATE_IS_POD: Final = 1
STATE_IS_PORTABLE: Final = 2

_Handle = ctypes.c_void_p
InstantiateFn = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p
)
ConnectFn = ctypes.CFUNCTYPE(None, _Handle, ctypes.c_uint32, ctypes.c_void_p)
HandleFn = ctypes.CFUNCTYPE(None, _Handle)
RunFn = ctypes.CFUNCTYPE(None, _Handle, ctypes.c_uint32)
ExtensionFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)
DescriptorFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)
MapFn = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p)
UnmapFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32)
StoreFn = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t,
    ctypes.c_uint32, ctypes.c_uint32,
)  # fmt: skip
RetrieveFn = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_size_t),
    ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
)  # fmt: skip
StateFn = ctypes.CFUNCTYPE(
    ctypes.c_int, _Handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p
)


class Descriptor(ctypes.Structure):
    """``LV2_Descriptor``."""

    _fields_ = (
        ("URI", ctypes.c_char_p),
        ("instantiate", InstantiateFn),
        ("connect_port", ConnectFn),
        ("activate", HandleFn),
        ("run", RunFn),
        ("deactivate", HandleFn),
        ("cleanup", HandleFn),
        ("extension_data", ExtensionFn),
    )


class Feature(ctypes.Structure):
    """``LV2_Feature``: a URI and its data."""

    _fields_ = (("URI", ctypes.c_char_p), ("data", ctypes.c_void_p))


class UridMap(ctypes.Structure):
    """``LV2_URID_Map``."""

    _fields_ = (("handle", ctypes.c_void_p), ("map", MapFn))


class UridUnmap(ctypes.Structure):
    """``LV2_URID_Unmap``."""

    _fields_ = (("handle", ctypes.c_void_p), ("unmap", UnmapFn))


class Option(ctypes.Structure):
    """``LV2_Options_Option``."""

    _fields_ = (
        ("context", ctypes.c_uint32),
        ("subject", ctypes.c_uint32),
        ("key", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("value", ctypes.c_void_p),
    )


class StateInterface(ctypes.Structure):
    """``LV2_State_Interface``."""

    _fields_ = (("save", StateFn), ("restore", StateFn))


class AtomSequenceHeader(ctypes.Structure):
    """``LV2_Atom_Sequence`` without events: atom header then sequence body header."""

    _fields_ = (
        ("size", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("unit", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
    )


class UridTable:
    """URI ↔ URID, starting at 1 (0 means "no URID"). One per plugin instance group."""

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self._uris: list[ctypes.Array[ctypes.c_char]] = []

    def map(self, uri: bytes) -> int:
        """[main-thread] The URID of ``uri``, allocating the next one for a new URI."""
        urid = self._ids.get(uri)
        if urid is None:
            self._uris.append(ctypes.create_string_buffer(uri))
            urid = self._ids[uri] = len(self._uris)
        return urid

    def unmap(self, urid: int) -> int:
        """[any-thread] Address of the NUL-terminated URI of ``urid`` (0 when unknown)."""
        if 1 <= urid <= len(self._uris):
            return ctypes.addressof(self._uris[urid - 1])
        return 0

    def uri(self, urid: int) -> str:
        """[any-thread] The URI text of ``urid`` ("" when unknown)."""
        if 1 <= urid <= len(self._uris):
            return self._uris[urid - 1].value.decode("utf-8", "replace")
        return ""


class HostFeatures:
    """The ``LV2_Feature *const *`` array for ``instantiate``, and everything it points to.

    Args:
        sample_rate: the graph's rate (``param:sampleRate``).
        max_block: the largest span ``run`` will get (``bufsz:maxBlockLength``).
        sequence_size: the largest atom buffer connected (``bufsz:sequenceSize``).
    """

    def __init__(self, sample_rate: int, max_block: int, sequence_size: int) -> None:
        self.urids = UridTable()
        self._map_fn = MapFn(lambda _handle, uri: self.urids.map(uri or b""))
        self._unmap_fn = UnmapFn(lambda _handle, urid: self.urids.unmap(int(urid)))
        self._map = UridMap(None, self._map_fn)
        self._unmap = UridUnmap(None, self._unmap_fn)
        int_type = self.urids.map(b"http://lv2plug.in/ns/ext/atom#Int")
        float_type = self.urids.map(b"http://lv2plug.in/ns/ext/atom#Float")
        self._rate = ctypes.c_float(float(sample_rate))
        self._ints = (ctypes.c_int32 * 4)(1, int(max_block), int(max_block), int(sequence_size))
        keys = (_BUFSZ + "minBlockLength", _BUFSZ + "maxBlockLength",
                _BUFSZ + "nominalBlockLength", _BUFSZ + "sequenceSize")  # fmt: skip
        options = [
            Option(0, 0, self.urids.map(key.encode()), 4, int_type,
                   ctypes.addressof(self._ints) + 4 * k)
            for k, key in enumerate(keys)
        ]  # fmt: skip
        options.append(
            Option(0, 0, self.urids.map(b"http://lv2plug.in/ns/ext/parameters#sampleRate"), 4,
                   float_type, ctypes.addressof(self._rate))
        )  # fmt: skip
        options.append(Option())  # the terminating all-zero entry
        self._options = (Option * len(options))(*options)
        self._features = (Feature * 4)(
            Feature(URID_MAP.encode(), ctypes.addressof(self._map)),
            Feature(URID_UNMAP.encode(), ctypes.addressof(self._unmap)),
            Feature(OPTIONS.encode(), ctypes.addressof(self._options)),
            Feature(BOUNDED_BLOCK_LENGTH.encode(), None),
        )
        self._array = (ctypes.c_void_p * 5)(*(ctypes.addressof(f) for f in self._features), None)

    @property
    def address(self) -> int:
        """[any-thread] The ``const LV2_Feature *const *`` to pass to ``instantiate``."""
        return ctypes.addressof(self._array)
