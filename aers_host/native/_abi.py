"""ctypes mirror of ``aers_plugin.h`` (ABI 1.0.0): structs, constants, the compatibility rule.

Invariants:

* Every struct here has the size and field offsets of its C twin; ``tests/native/
  test_abi_layout.py`` compiles a probe against the header and compares each one.
* Field order and types follow the header line by line. A change to the header is a change
  here, in the same commit, and a new ``AERS_VERSION_*`` when it breaks layout.
* :class:`Version` is the first field of :class:`PluginEntry`; the loader reads only that
  struct through the entry pointer until :func:`version_is_compatible` accepts it.

Example:
    >>> version_is_compatible(Version(1, 4, 2)), version_is_compatible(Version(2, 0, 0))
    (True, False)
"""

from __future__ import annotations

import ctypes
from typing import Final

#: The ABI this host speaks (``AERS_VERSION_MAJOR/MINOR/REVISION``).
VERSION_MAJOR: Final = 1
VERSION_MINOR: Final = 0
VERSION_REVISION: Final = 0

NAME_SIZE: Final = 64
UNIT_SIZE: Final = 16
#: Descriptors declaring more parameters than this are refused.
MAX_PARAMS: Final = 256

PARAM_IS_AUTOMATABLE: Final = 1 << 0
PARAM_IS_STEPPED: Final = 1 << 1

CORE_EVENT_SPACE_ID: Final = 0
EVENT_PARAM_VALUE: Final = 0

DEFAULT_ENTRY_SYMBOL: Final = "aers_plugin_entry"
EXT_TAIL: Final = b"aers.tail/1"


class Version(ctypes.Structure):
    """``aers_version_t``: {major, minor, revision}."""

    _fields_ = (
        ("major", ctypes.c_uint32),
        ("minor", ctypes.c_uint32),
        ("revision", ctypes.c_uint32),
    )

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}"


def version_is_compatible(version: Version) -> bool:
    """``aers_version_is_compatible``: same major; minors are compatible both ways."""
    return int(version.major) == VERSION_MAJOR


class ParamInfo(ctypes.Structure):
    """``aers_param_info_t``: one declared parameter."""

    _fields_ = (
        ("id", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("name", ctypes.c_char * NAME_SIZE),
        ("unit", ctypes.c_char * UNIT_SIZE),
        ("min_value", ctypes.c_double),
        ("max_value", ctypes.c_double),
        ("default_value", ctypes.c_double),
    )


class Descriptor(ctypes.Structure):
    """``aers_descriptor_t``: the plugin's static self-description."""

    _fields_ = (
        ("abi_version", Version),
        ("id", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("vendor", ctypes.c_char_p),
        ("version", ctypes.c_char_p),
        ("description", ctypes.c_char_p),
        ("param_count", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("params", ctypes.POINTER(ParamInfo)),
    )


class EventHeader(ctypes.Structure):
    """``aers_event_header_t``: size, time (sample offset), space id, type, flags."""

    _fields_ = (
        ("size", ctypes.c_uint32),
        ("time", ctypes.c_uint32),
        ("space_id", ctypes.c_uint16),
        ("type", ctypes.c_uint16),
        ("flags", ctypes.c_uint32),
    )


class EventParamValue(ctypes.Structure):
    """``aers_event_param_value_t``: set ``param_id`` to ``value`` from ``header.time`` on."""

    _fields_ = (
        ("header", EventHeader),
        ("param_id", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("value", ctypes.c_double),
    )


class Process(ctypes.Structure):
    """``aers_process_t``: one block's buffers and events, valid during ``process()`` only.

    ``in``/``out`` are ``const float *const *`` in C; they are mirrored as ``c_void_p`` so the
    host can point them at its cached pointer arrays with one integer store per block.
    """

    _fields_ = (
        ("start", ctypes.c_uint64),
        ("frames", ctypes.c_uint32),
        ("in_channels", ctypes.c_uint32),
        ("out_channels", ctypes.c_uint32),
        ("event_count", ctypes.c_uint32),
        ("in_", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("events", ctypes.c_void_p),
    )


GetDescriptorFn = ctypes.CFUNCTYPE(ctypes.POINTER(Descriptor))
CreateFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_double, ctypes.c_uint32, ctypes.c_uint32)
DestroyFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
LatencyFn = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)
ResetFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
ProcessFn = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(Process))
GetStateFn = ctypes.CFUNCTYPE(
    ctypes.c_int64, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint64
)
SetStateFn = ctypes.CFUNCTYPE(
    ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint64
)
GetExtensionFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)


class PluginEntry(ctypes.Structure):
    """``aers_plugin_entry_t``: the version, then the table of function pointers."""

    _fields_ = (
        ("abi_version", Version),
        ("get_descriptor", GetDescriptorFn),
        ("create", CreateFn),
        ("destroy", DestroyFn),
        ("latency", LatencyFn),
        ("reset", ResetFn),
        ("process", ProcessFn),
        ("get_state", GetStateFn),
        ("set_state", SetStateFn),
        ("get_extension", GetExtensionFn),
    )


#: ``aers_plugin_entry_fn``: returns a pointer to the entry. Declared as returning ``void *``
#: so the host can first view only the leading :class:`Version` (the layout of the rest
#: belongs to the major version it announces).
EntryFn = ctypes.CFUNCTYPE(ctypes.c_void_p)

TailGetFn = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)


class PluginTail(ctypes.Structure):
    """``aers_plugin_tail_t`` (extension ``aers.tail/1``)."""

    _fields_ = (("get", TailGetFn),)


#: Every mirrored struct by its C name, for the layout probe.
STRUCTS: Final[dict[str, type[ctypes.Structure]]] = {
    "aers_version_t": Version,
    "aers_param_info_t": ParamInfo,
    "aers_descriptor_t": Descriptor,
    "aers_event_header_t": EventHeader,
    "aers_event_param_value_t": EventParamValue,
    "aers_process_t": Process,
    "aers_plugin_entry_t": PluginEntry,
    "aers_plugin_tail_t": PluginTail,
}

#: C field names that differ from the Python ones (``in`` is a Python keyword).
C_FIELD_NAMES: Final = {"in_": "in"}
