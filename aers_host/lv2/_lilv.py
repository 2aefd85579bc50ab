"""Read LV2 bundles' Turtle with lilv (``liblilv-0`` through ctypes), into plain data.

Only ``aers plugin adopt`` and ``aers plugin discover`` read Turtle: they run in the host,
on the user's request, and turn what lilv reports into :class:`Lv2Description` values.
Nothing here instantiates a plugin or maps its code (lilv never dlopens a plugin unless
asked to), and hosting never needs Turtle: the signed manifest records the port layout.

The library is opened on first use (``import aers_host.lv2`` stays cheap); a system without
it gets a :class:`~aers_host.errors.PluginError` saying which package provides it.

Example:
    >>> from aers_host.lv2._lilv import installed_plugins      # doctest: +SKIP
    >>> [d.uri for d in installed_plugins()][:1]               # doctest: +SKIP
    ['http://lsp-plug.in/plugins/lv2/compressor_mono']
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import PluginError

LV2: Final = "http://lv2plug.in/ns/lv2core#"
ATOM: Final = "http://lv2plug.in/ns/ext/atom#"
_EVENT_PORT: Final = "http://lv2plug.in/ns/ext/event#EventPort"
_MIDI_EVENT: Final = "http://lv2plug.in/ns/ext/midi#MidiEvent"
_UNITS: Final = "http://lv2plug.in/ns/extensions/units#"
_MIN_SIZE: Final = "http://lv2plug.in/ns/ext/resize-port#minimumSize"
_STATE_INTERFACE: Final = "http://lv2plug.in/ns/ext/state#interface"
_DESIGNATION: Final = LV2 + "designation"
_RDF_TYPE: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
#: Port properties recorded (short name → URI).
PROPERTIES: Final = {
    "toggled": LV2 + "toggled",
    "integer": LV2 + "integer",
    "enumeration": LV2 + "enumeration",
    "optional": LV2 + "connectionOptional",
    "latency": LV2 + "reportsLatency",
    "logarithmic": "http://lv2plug.in/ns/ext/port-props#logarithmic",
}
#: Readable unit labels for the units extension's common URIs.
_UNIT_LABELS: Final = {
    "db": "dB", "hz": "Hz", "khz": "kHz", "mhz": "MHz", "ms": "ms", "s": "s", "pc": "%",
    "degree": "deg", "bpm": "bpm", "semitone12TET": "semitone", "cent": "cent",
    "frame": "frames", "m": "m", "cm": "cm", "mm": "mm", "min": "min", "beat": "beat",
    "bar": "bar", "coef": "", "oct": "oct",
}  # fmt: skip
_LIB_NAME: Final = "lilv-0"


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One port as the plugin's Turtle declares it."""

    index: int
    symbol: str
    name: str
    #: ``input`` or ``output``.
    direction: str
    #: ``audio``, ``control``, ``atom``, ``cv``, ``event`` or ``other``.
    type: str
    default: float | None
    minimum: float | None
    maximum: float | None
    properties: frozenset[str]
    unit: str
    scale_points: tuple[tuple[float, str], ...]
    supports_midi: bool
    #: ``rsz:minimumSize`` of an atom port (0 when not declared).
    min_size: int
    #: ``lv2:designation`` URI ("" when none).
    designation: str


@dataclass(frozen=True, slots=True)
class Lv2Description:
    """What lilv reports about one plugin, as plain data (no lilv pointers)."""

    uri: str
    name: str
    class_uri: str
    #: Declared ``a lv2:InstrumentPlugin`` (whatever its first class).
    is_instrument: bool
    bundle: Path
    library: Path
    data_files: tuple[Path, ...]
    ui_binaries: tuple[Path, ...]
    required_features: tuple[str, ...]
    has_state: bool
    ports: tuple[PortInfo, ...]


_lib: ctypes.CDLL | None = None
_P = ctypes.c_void_p


def _signatures(lib: ctypes.CDLL) -> None:
    """Declare every function used (all pointers are opaque ``void *``)."""
    table: dict[str, tuple[Any, list[Any]]] = {
        "lilv_free": (None, [_P]),
        "lilv_world_new": (_P, []),
        "lilv_world_free": (None, [_P]),
        "lilv_world_load_all": (None, [_P]),
        "lilv_world_load_bundle": (None, [_P, _P]),
        "lilv_world_get_all_plugins": (_P, [_P]),
        "lilv_world_get": (_P, [_P, _P, _P, _P]),
        "lilv_world_ask": (ctypes.c_bool, [_P, _P, _P, _P]),
        "lilv_new_uri": (_P, [_P, ctypes.c_char_p]),
        "lilv_new_file_uri": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p]),
        "lilv_node_free": (None, [_P]),
        "lilv_node_as_string": (ctypes.c_char_p, [_P]),
        "lilv_node_as_uri": (ctypes.c_char_p, [_P]),
        "lilv_node_is_uri": (ctypes.c_bool, [_P]),
        "lilv_node_is_float": (ctypes.c_bool, [_P]),
        "lilv_node_is_int": (ctypes.c_bool, [_P]),
        "lilv_node_as_float": (ctypes.c_float, [_P]),
        "lilv_node_as_int": (ctypes.c_int, [_P]),
        "lilv_file_uri_parse": (_P, [ctypes.c_char_p, _P]),
        "lilv_plugins_begin": (_P, [_P]),
        "lilv_plugins_next": (_P, [_P, _P]),
        "lilv_plugins_is_end": (ctypes.c_bool, [_P, _P]),
        "lilv_plugins_get": (_P, [_P, _P]),
        "lilv_plugins_get_by_uri": (_P, [_P, _P]),
        "lilv_nodes_begin": (_P, [_P]),
        "lilv_nodes_next": (_P, [_P, _P]),
        "lilv_nodes_is_end": (ctypes.c_bool, [_P, _P]),
        "lilv_nodes_get": (_P, [_P, _P]),
        "lilv_nodes_free": (None, [_P]),
        "lilv_scale_points_begin": (_P, [_P]),
        "lilv_scale_points_next": (_P, [_P, _P]),
        "lilv_scale_points_is_end": (ctypes.c_bool, [_P, _P]),
        "lilv_scale_points_get": (_P, [_P, _P]),
        "lilv_scale_points_free": (None, [_P]),
        "lilv_scale_point_get_label": (_P, [_P]),
        "lilv_scale_point_get_value": (_P, [_P]),
        "lilv_uis_begin": (_P, [_P]),
        "lilv_uis_next": (_P, [_P, _P]),
        "lilv_uis_is_end": (ctypes.c_bool, [_P, _P]),
        "lilv_uis_get": (_P, [_P, _P]),
        "lilv_uis_free": (None, [_P]),
        "lilv_ui_get_binary_uri": (_P, [_P]),
        "lilv_plugin_get_uri": (_P, [_P]),
        "lilv_plugin_get_name": (_P, [_P]),
        "lilv_plugin_get_bundle_uri": (_P, [_P]),
        "lilv_plugin_get_library_uri": (_P, [_P]),
        "lilv_plugin_get_data_uris": (_P, [_P]),
        "lilv_plugin_get_class": (_P, [_P]),
        "lilv_plugin_class_get_uri": (_P, [_P]),
        "lilv_plugin_get_required_features": (_P, [_P]),
        "lilv_plugin_has_extension_data": (ctypes.c_bool, [_P, _P]),
        "lilv_plugin_get_uis": (_P, [_P]),
        "lilv_plugin_get_num_ports": (ctypes.c_uint32, [_P]),
        "lilv_plugin_get_port_by_index": (_P, [_P, ctypes.c_uint32]),
        "lilv_port_is_a": (ctypes.c_bool, [_P, _P, _P]),
        "lilv_port_has_property": (ctypes.c_bool, [_P, _P, _P]),
        "lilv_port_supports_event": (ctypes.c_bool, [_P, _P, _P]),
        "lilv_port_get_symbol": (_P, [_P, _P]),
        "lilv_port_get_name": (_P, [_P, _P]),
        "lilv_port_get": (_P, [_P, _P, _P]),
        "lilv_port_get_range": (None, [_P, _P, _P, _P, _P]),
        "lilv_port_get_scale_points": (_P, [_P, _P]),
    }
    for name, (restype, argtypes) in table.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _lilv() -> ctypes.CDLL:
    """The lilv library, opened and declared once.

    Raises:
        PluginError: lilv is not installed.
    """
    global _lib
    if _lib is None:
        path = ctypes.util.find_library(_LIB_NAME) or "liblilv-0.so.0"
        try:
            lib = ctypes.CDLL(path)
        except OSError as err:
            raise PluginError(
                f"LV2 support needs lilv ({err}); install it: apt-get install liblilv-0-0"
            ) from err
        _signatures(lib)
        _lib = lib
    return _lib


class _World:
    """A lilv world with a cache of URI nodes; freed on exit of the ``with`` block."""

    def __init__(self) -> None:
        self.lib = _lilv()
        self.world = self.lib.lilv_world_new()
        self._uris: dict[str, int] = {}

    def __enter__(self) -> _World:
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self._uris.values():
            self.lib.lilv_node_free(node)
        self.lib.lilv_world_free(self.world)

    def uri(self, text: str) -> int:
        node = self._uris.get(text)
        if node is None:
            node = self._uris[text] = self.lib.lilv_new_uri(self.world, text.encode())
        return node

    def text(self, node: int | None) -> str:
        raw = self.lib.lilv_node_as_string(node) if node else None
        return raw.decode("utf-8", "replace") if raw else ""

    def number(self, node: int | None) -> float | None:
        lib = self.lib
        if not node or not (lib.lilv_node_is_float(node) or lib.lilv_node_is_int(node)):
            return None
        value = float(lib.lilv_node_as_float(node))
        return value if math.isfinite(value) else None

    def path(self, node: int | None) -> Path | None:
        raw = self.lib.lilv_node_as_uri(node) if node else None
        if not raw:
            return None
        parsed = self.lib.lilv_file_uri_parse(raw, None)
        if not parsed:
            return None
        try:
            return Path(ctypes.string_at(parsed).decode("utf-8", "replace"))
        finally:
            self.lib.lilv_free(parsed)

    def nodes(self, collection: int | None) -> Iterator[int]:
        lib = self.lib
        if not collection:
            return
        it = lib.lilv_nodes_begin(collection)
        while not lib.lilv_nodes_is_end(collection, it):
            yield lib.lilv_nodes_get(collection, it)
            it = lib.lilv_nodes_next(collection, it)

    def plugins(self) -> Iterator[int]:
        lib = self.lib
        plugins = lib.lilv_world_get_all_plugins(self.world)
        it = lib.lilv_plugins_begin(plugins)
        while not lib.lilv_plugins_is_end(plugins, it):
            yield lib.lilv_plugins_get(plugins, it)
            it = lib.lilv_plugins_next(plugins, it)

    def describe(self, plugin: int) -> Lv2Description:
        lib = self.lib
        name_node = lib.lilv_plugin_get_name(plugin)
        name = self.text(name_node)
        lib.lilv_node_free(name_node)
        features = lib.lilv_plugin_get_required_features(plugin)
        required = tuple(self.text(n) for n in self.nodes(features))
        lib.lilv_nodes_free(features)
        uis = lib.lilv_plugin_get_uis(plugin)
        ui_binaries: list[Path] = []
        if uis:
            it = lib.lilv_uis_begin(uis)
            while not lib.lilv_uis_is_end(uis, it):
                binary = self.path(lib.lilv_ui_get_binary_uri(lib.lilv_uis_get(uis, it)))
                if binary is not None:
                    ui_binaries.append(binary)
                it = lib.lilv_uis_next(uis, it)
            lib.lilv_uis_free(uis)
        data = tuple(
            p for n in self.nodes(lib.lilv_plugin_get_data_uris(plugin)) if (p := self.path(n))
        )
        count = int(lib.lilv_plugin_get_num_ports(plugin))
        return Lv2Description(
            uri=self.text(lib.lilv_plugin_get_uri(plugin)),
            name=name,
            class_uri=self.text(lib.lilv_plugin_class_get_uri(lib.lilv_plugin_get_class(plugin))),
            is_instrument=bool(
                lib.lilv_world_ask(
                    self.world,
                    lib.lilv_plugin_get_uri(plugin),
                    self.uri(_RDF_TYPE),
                    self.uri(LV2 + "InstrumentPlugin"),
                )
            ),
            bundle=self.path(lib.lilv_plugin_get_bundle_uri(plugin)) or Path(),
            library=self.path(lib.lilv_plugin_get_library_uri(plugin)) or Path(),
            data_files=data,
            ui_binaries=tuple(ui_binaries),
            required_features=required,
            has_state=bool(lib.lilv_plugin_has_extension_data(plugin, self.uri(_STATE_INTERFACE))),
            ports=tuple(self.port(plugin, i) for i in range(count)),
        )

    def port(self, plugin: int, index: int) -> PortInfo:
        lib = self.lib
        port = lib.lilv_plugin_get_port_by_index(plugin, index)

        def is_a(uri: str) -> bool:
            return bool(lib.lilv_port_is_a(plugin, port, self.uri(uri)))

        kinds = (
            ("audio", LV2 + "AudioPort"), ("control", LV2 + "ControlPort"),
            ("atom", ATOM + "AtomPort"), ("cv", LV2 + "CVPort"), ("event", _EVENT_PORT),
        )  # fmt: skip
        kind = next((k for k, uri in kinds if is_a(uri)), "other")
        triple = [ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()]
        lib.lilv_port_get_range(plugin, port, *(ctypes.byref(v) for v in triple))
        default, minimum, maximum = (self.number(v.value) for v in triple)
        for v in triple:
            if v.value:
                lib.lilv_node_free(v.value)
        name_node = lib.lilv_port_get_name(plugin, port)
        name = self.text(name_node)
        lib.lilv_node_free(name_node)
        return PortInfo(
            index=index,
            symbol=self.text(lib.lilv_port_get_symbol(plugin, port)),
            name=name,
            direction="input" if is_a(LV2 + "InputPort") else "output",
            type=kind,
            default=default,
            minimum=minimum,
            maximum=maximum,
            properties=frozenset(
                short
                for short, uri in PROPERTIES.items()
                if lib.lilv_port_has_property(plugin, port, self.uri(uri))
            ),
            unit=self._unit(plugin, port),
            scale_points=self._scale_points(plugin, port),
            supports_midi=bool(lib.lilv_port_supports_event(plugin, port, self.uri(_MIDI_EVENT))),
            min_size=int(self._value(plugin, port, _MIN_SIZE) or 0),
            designation=self._designation(plugin, port),
        )

    def _value(self, plugin: int, port: int, predicate: str) -> float | None:
        node = self.lib.lilv_port_get(plugin, port, self.uri(predicate))
        try:
            return self.number(node)
        finally:
            if node:
                self.lib.lilv_node_free(node)

    def _designation(self, plugin: int, port: int) -> str:
        node = self.lib.lilv_port_get(plugin, port, self.uri(_DESIGNATION))
        try:
            return self.text(node) if node and self.lib.lilv_node_is_uri(node) else ""
        finally:
            if node:
                self.lib.lilv_node_free(node)

    def _unit(self, plugin: int, port: int) -> str:
        lib = self.lib
        node = lib.lilv_port_get(plugin, port, self.uri(_UNITS + "unit"))
        if not node:
            return ""
        try:
            if lib.lilv_node_is_uri(node):
                short = self.text(node).rsplit("#", 1)[-1]
                return _UNIT_LABELS.get(short, short)[:16]
            symbol = lib.lilv_world_get(self.world, node, self.uri(_UNITS + "symbol"), None)
            label = self.text(symbol)
            if symbol:
                lib.lilv_node_free(symbol)
            return label[:16]
        finally:
            lib.lilv_node_free(node)

    def _scale_points(self, plugin: int, port: int) -> tuple[tuple[float, str], ...]:
        lib = self.lib
        points = lib.lilv_port_get_scale_points(plugin, port)
        if not points:
            return ()
        found: list[tuple[float, str]] = []
        it = lib.lilv_scale_points_begin(points)
        while not lib.lilv_scale_points_is_end(points, it):
            point = lib.lilv_scale_points_get(points, it)
            value = self.number(lib.lilv_scale_point_get_value(point))
            if value is not None:
                found.append((value, self.text(lib.lilv_scale_point_get_label(point))))
            it = lib.lilv_scale_points_next(points, it)
        lib.lilv_scale_points_free(points)
        return tuple(sorted(found))


def installed_plugins() -> list[Lv2Description]:
    """[main-thread] Every LV2 plugin lilv finds on this system (``LV2_PATH`` or defaults).

    Raises:
        PluginError: lilv is not installed.
    """
    with _World() as world:
        world.lib.lilv_world_load_all(world.world)
        return sorted((world.describe(p) for p in world.plugins()), key=lambda d: d.uri)


def describe_bundle(bundle: Path, uri: str) -> Lv2Description:
    """[main-thread] The plugin ``uri`` as the Turtle of ``bundle`` (only) declares it.

    Raises:
        PluginError: lilv is missing, or the bundle does not declare ``uri`` (the message
            lists the URIs it does declare).
    """
    with _World() as world:
        lib = world.lib
        bundle_uri = lib.lilv_new_file_uri(
            world.world, None, (str(bundle.resolve()).rstrip("/") + "/").encode()
        )
        lib.lilv_world_load_bundle(world.world, bundle_uri)
        lib.lilv_node_free(bundle_uri)
        plugins = lib.lilv_world_get_all_plugins(world.world)
        found = lib.lilv_plugins_get_by_uri(plugins, world.uri(uri))
        if not found:
            known = sorted(world.text(lib.lilv_plugin_get_uri(p)) for p in world.plugins())
            hint = f" (it declares: {', '.join(known[:5])}{'…' if len(known) > 5 else ''})"
            raise PluginError(
                f"{bundle}: no LV2 plugin {uri!r} in this bundle{hint if known else ''}"
            )
        return world.describe(found)
