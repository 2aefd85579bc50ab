"""``Lv2Processor``: an adopted LV2 effect behind the engine's Processor interface.

Used in-process (``isolation: in-process``, key trusted for ``native``) and, through
:class:`~aers_host.lv2._runner.Lv2Runner`, inside a fenced worker — the same code either way.

Invariants:

* Only the signed record is trusted for layout (:class:`~._section.Lv2Section`); the
  library comes from a sealed memfd hashed against the manifest before ``dlopen``
  (:func:`~aers_host.native._library.dlopen_sealed`), and its ``lv2_descriptor`` list is
  searched for the signed URI.
* Channels: a plugin with as many audio ports a side as the node has channels runs as one
  instance; a mono plugin on a stereo node runs as two (dual mono, one per channel, state
  per instance). Any other layout is refused at ``prepare`` with the reason.
* Parameter changes split the block: the host runs the plugin up to each change's
  offset, writes the new control value, and continues (sample-accurate, as for every
  node). Integer and toggle controls are rounded, enumerations snapped to the nearest
  declared value, everything clamped to the declared range.
* Latency: the ``lv2:reportsLatency`` port is read after one run on silence at
  ``prepare`` (plugins set it in ``run``), bounded by ``MAX_LATENCY``; then the instance is
  deactivated and activated again, which LV2 defines as a full reset. It is frozen while
  the node is active.
* Nothing in :meth:`process` allocates once the block size is steady: control values live
  in a preallocated ``float`` array per instance, audio ports are re-connected only when
  the buffers change or a block is split.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import ctypes
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from .._features import HoldsResources
from .._processor import Buffer, ParamEvent
from ..errors import NativeABIError, PluginError, PluginValidationError
from ..native._library import SealedLibrary, dlopen_sealed
from ..sandbox._runtime import MAX_LATENCY
from . import _abi
from ._section import Lv2Section

#: Most descriptors searched in one library (LSP ships ~130 in one).
MAX_DESCRIPTORS: Final = 4096
#: Largest state one instance may save (all values together), in bytes.
MAX_STATE_BYTES: Final = 1 << 20
#: Frames run on silence at prepare to read the latency port.
_LATENCY_PROBE_FRAMES: Final = 64


@dataclass(frozen=True, slots=True)
class ControlParam:
    """A control input as the signed manifest declares it: port, range and stepping."""

    name: str
    port: int
    default: float
    minimum: float
    maximum: float
    integer: bool = False
    toggle: bool = False
    choices: tuple[float, ...] = ()

    def snap(self, value: float) -> float:
        """[any-thread] ``value`` clamped into range and stepped as the port requires."""
        value = min(max(value, self.minimum), self.maximum)
        if self.choices:
            k = bisect.bisect_left(self.choices, value)
            near = self.choices[max(k - 1, 0) : k + 1]
            return min(near, key=lambda c: abs(c - value))
        if self.toggle:
            return self.maximum if value >= 0.5 * (self.minimum + self.maximum) else self.minimum
        if self.integer:
            return float(math.floor(value + 0.5))
        return value

    @classmethod
    def from_manifest(cls, spec: Mapping[str, Any], port: int) -> ControlParam:
        """[main-thread] From one schema-valid manifest ``params`` entry."""
        return cls(
            name=str(spec["name"]),
            port=port,
            default=float(spec["default"]),
            minimum=float(spec["min"]),
            maximum=float(spec["max"]),
            integer=bool(spec.get("integer", False)),
            toggle=bool(spec.get("toggle", False)),
            choices=tuple(sorted(float(e["value"]) for e in spec.get("enum", ()))),
        )


class Lv2Library:
    """A dlopened LV2 library and the descriptor of one plugin URI in it."""

    def __init__(self, name: str, sealed: SealedLibrary, uri: str) -> None:
        """[main-thread] Re-hash and dlopen the sealed copy, then find ``uri``'s descriptor.

        Raises:
            HashMismatchError: the memfd does not hold the signed bytes.
            NativeABIError: dlopen failed, no ``lv2_descriptor`` export, or no such URI.
        """
        self.name = name
        self._cdll = dlopen_sealed(name, sealed)
        try:
            lookup = _abi.DescriptorFn((sealed.symbol, self._cdll))
        except AttributeError as err:
            raise NativeABIError(
                f"plugin {name!r}: {sealed.lib_file} does not export {sealed.symbol}()"
            ) from err
        wanted = uri.encode()
        for index in range(MAX_DESCRIPTORS):
            address = lookup(index)
            if not address:
                break
            descriptor = _abi.Descriptor.from_address(address)
            declared: bytes | None = descriptor.URI
            if declared == wanted:
                self.address = int(address)
                self.descriptor = descriptor
                return
        raise NativeABIError(f"plugin {name!r}: {sealed.lib_file} has no LV2 plugin <{uri}>")


class _Instance:
    """One instantiated, activated plugin instance and its port memory."""

    def __init__(
        self, lib: Lv2Library, section: Lv2Section, features: _abi.HostFeatures,
        sample_rate: int, bundle: str,
    ) -> None:  # fmt: skip
        d = lib.descriptor
        if not (d.instantiate and d.connect_port and d.run and d.cleanup):
            raise NativeABIError(
                f"plugin {lib.name!r}: its LV2 descriptor lacks a required function"
            )
        handle = d.instantiate(lib.address, float(sample_rate), bundle.encode(), features.address)
        if not handle:
            raise PluginError(
                f"plugin {lib.name!r}: instantiate at {sample_rate} Hz returned NULL (the "
                "plugin refused this sample rate or a host feature)"
            )
        self.handle = int(handle)
        self.lib = lib
        self.controls = (ctypes.c_float * section.port_count)()
        self.atoms = [(a, (ctypes.c_uint8 * a.size)()) for a in section.atom_ports]
        base = ctypes.addressof(self.controls)
        for port in (*section.controls.values(), *section.outputs):
            d.connect_port(self.handle, port, base + 4 * port)
        for atom, buf in self.atoms:
            d.connect_port(self.handle, atom.index, ctypes.addressof(buf))
        sequence = features.urids.map(b"http://lv2plug.in/ns/ext/atom#Sequence")
        chunk = features.urids.map(b"http://lv2plug.in/ns/ext/atom#Chunk")
        # (header, size, type) per atom port, made once: run() only rewrites two fields.
        self._atom_headers = [
            (_abi.AtomSequenceHeader.from_buffer(buf),
             atom.size - 8 if atom.output else 8, chunk if atom.output else sequence)
            for atom, buf in self.atoms
        ]  # fmt: skip
        self.reset_atoms()
        self.active = False

    def reset_atoms(self) -> None:
        """[audio-thread] Empty input sequences; give outputs their whole capacity."""
        for header, size, kind in self._atom_headers:
            header.size, header.type, header.unit, header.pad = size, kind, 0, 0

    def activate(self) -> None:
        """[main-thread] ``activate`` (LV2: resets every history-dependent state)."""
        if not self.active:
            if self.lib.descriptor.activate:  # optional in LV2: NULL means nothing to do
                self.lib.descriptor.activate(self.handle)
            self.active = True

    def deactivate(self) -> None:
        """[main-thread] ``deactivate`` if active (optional in LV2, like ``activate``)."""
        if self.active:
            if self.lib.descriptor.deactivate:
                self.lib.descriptor.deactivate(self.handle)
            self.active = False

    def close(self) -> None:
        """[main-thread] Deactivate and ``cleanup``; the handle is gone afterwards."""
        self.deactivate()
        self.lib.descriptor.cleanup(self.handle)
        self.handle = 0


class Lv2Processor(HoldsResources):
    """An adopted LV2 plugin as one graph node (see the module docstring).

    Attributes:
        latency_samples: the plugin's reported latency, read at prepare.
        plugin_id: the manifest name, for messages.
    """

    def __init__(
        self,
        library: Lv2Library,
        section: Lv2Section,
        params: Sequence[ControlParam],
        values: Mapping[str, float],
        bundle: str = "",
    ) -> None:
        """[main-thread] Wrap ``library``; ``values`` are the node's (validated) params."""
        self.plugin_id = library.name
        self.latency_samples = 0
        self._lib = library
        self._section = section
        self._params = tuple(params)
        self._index = {p.name: k for k, p in enumerate(self._params)}
        self.values: dict[str, float] = {p.name: p.snap(p.default) for p in self._params}
        for name, value in values.items():
            if name in self._index:
                self.values[name] = self._params[self._index[name]].snap(float(value))
        self._bundle = bundle
        self._instances: list[_Instance] = []
        self._features: _abi.HostFeatures | None = None
        self._pending_states: list[dict[str, Any] | None] | None = None
        self._channels = 0
        self._max_block = 0
        self._scratch = np.zeros((0, 0), np.float32)
        self._connected: tuple[int, ...] = ()
        self._state_iface: _abi.StateInterface | None = None
        # The descriptor's functions, read out of the struct once (each read makes an object).
        self._run = library.descriptor.run
        self._connect = library.descriptor.connect_port
        self._last_in: Buffer | None = None
        self._last_out: Buffer | None = None
        self._aliased = False
        self._rows: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def param_names(self) -> tuple[str, ...]:
        """[any-thread] Parameter names in manifest order (the worker's event indices)."""
        return tuple(p.name for p in self._params)

    # -- lifecycle ----------------------------------------------------------------------------

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Instantiate, connect, activate; read the latency.

        Raises:
            PluginValidationError: a channel layout AERS cannot map, or a latency beyond
                ``MAX_LATENCY``.
            PluginError: ``instantiate`` returned NULL.
        """
        self.close()
        width = check_layout(self.plugin_id, self._section, channels)
        count = channels // width
        sequence = max((a.size for a in self._section.atom_ports), default=0)
        self._features = _abi.HostFeatures(sample_rate, max_block, sequence)
        self._instances = [
            _Instance(self._lib, self._section, self._features, sample_rate, self._bundle)
            for _ in range(count)
        ]
        self._channels, self._max_block = channels, max_block
        self._scratch = np.zeros((channels, max_block), np.float32)
        self._connected = ()
        self._last_in = self._last_out = None
        self._state_iface = self._find_state_interface()
        for name, value in self.values.items():
            self._write(self._index[name], value)
        for inst in self._instances:
            inst.activate()
        self.latency_samples = self._probe_latency()
        # Restored last: activate (and the latency probe's reset) clear the plugin's state.
        pending, self._pending_states = self._pending_states, None
        if pending is not None:
            self._restore(pending)

    def _probe_latency(self) -> int:
        port = self._section.latency_port
        if port is None:
            return 0
        frames = min(_LATENCY_PROBE_FRAMES, self._max_block)
        silence = np.zeros((self._channels, frames), np.float32)
        self.process_indexed(silence, np.zeros_like(silence), 0, ())
        value = float(self._instances[0].controls[port])
        for inst in self._instances:  # LV2: deactivate + activate is a full reset
            inst.deactivate()
            inst.activate()
        self._connected = ()
        self._last_in = self._last_out = None
        if not (math.isfinite(value) and 0 <= value <= MAX_LATENCY):
            raise PluginValidationError(
                self.plugin_id, f"reports latency {value!r}, outside [0, {MAX_LATENCY}] samples"
            )
        return round(value)

    def close(self) -> None:
        """[main-thread & !active] Deactivate and clean up every instance; idempotent."""
        instances, self._instances = self._instances, []
        for inst in instances:
            inst.close()

    def __del__(self) -> None:
        if getattr(self, "_instances", None):
            self.close()

    def reset(self) -> None:
        """[main-thread] Clear the plugin's signal history (deactivate + activate)."""
        for inst in self._instances:
            inst.deactivate()
            inst.activate()

    # -- audio --------------------------------------------------------------------------------

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] One block, split at parameter changes.

        Raises:
            RuntimeError: called before :meth:`prepare`.
            ValueError: buffers that do not fit the prepared format.
        """
        index = self._index
        changes = (
            [(e.offset, index[e.param], e.value) for e in events if e.param in index]
            if events
            else ()
        )
        self.process_indexed(inp, out, start, changes)

    def process_indexed(
        self, inp: Buffer, out: Buffer, start: int, changes: Sequence[tuple[int, int, float]]
    ) -> None:
        """[audio-thread & processing] :meth:`process` with parameters by manifest index.

        Raises:
            RuntimeError: called before :meth:`prepare`.
            ValueError: buffers that do not fit the prepared format.
        """
        if not self._instances:
            raise RuntimeError(f"plugin {self.plugin_id!r}: process() before prepare()")
        frames = out.shape[1]
        if inp.shape != out.shape or out.shape[0] != self._channels or frames > self._max_block:
            raise ValueError(
                f"plugin {self.plugin_id!r}: prepared for {self._channels} channels x "
                f"{self._max_block} frames, got in {inp.shape} / out {out.shape}"
            )
        if out.dtype != np.float32 or inp.dtype != np.float32:
            raise ValueError(f"plugin {self.plugin_id!r}: buffers must be float32")
        if inp is not self._last_in or out is not self._last_out:  # new buffers: look once
            self._last_in, self._last_out = inp, out
            self._aliased = bool(frames) and bool(np.shares_memory(inp, out))
            src = self._scratch if self._aliased else inp
            self._rows = (src.ctypes.data, out.ctypes.data, src.strides[0], out.strides[0])
        if self._aliased:  # LV2 allows in-place processing only where a plugin declares it
            self._scratch[:, :frames] = inp
        if not changes:
            self._run_span(0, frames)
            return
        pos = 0
        for offset, k, value in sorted(changes, key=lambda c: c[0]):
            offset = min(max(int(offset), 0), frames)
            if offset > pos:
                self._run_span(pos, offset)
                pos = offset
            if 0 <= k < len(self._params) and math.isfinite(value):
                param = self._params[k]
                self.values[param.name] = snapped = param.snap(float(value))
                self._write(k, snapped)
        if pos < frames:
            self._run_span(pos, frames)

    def _run_span(self, begin: int, end: int) -> None:
        """Connect the audio ports at ``begin`` (when they moved) and run ``end - begin``."""
        in_addr, out_addr, in_stride, out_stride = self._rows
        key = (in_addr + 4 * begin, out_addr + 4 * begin, in_stride, out_stride)
        if key != self._connected:
            self._connected = key
            self._connect_audio(key)
        run = self._run
        for inst in self._instances:
            if inst.atoms:
                inst.reset_atoms()
            run(inst.handle, end - begin)

    def _connect_audio(self, key: tuple[int, int, int, int]) -> None:
        """Point every instance's audio ports at the rows of the current buffers."""
        section = self._section
        connect = self._connect
        width = section.channels
        in_addr, out_addr, in_stride, out_stride = key
        for k, inst in enumerate(self._instances):
            for c in range(width):
                row = k * width + c
                connect(inst.handle, section.audio_in[c], in_addr + row * in_stride)
                connect(inst.handle, section.audio_out[c], out_addr + row * out_stride)

    def _write(self, k: int, value: float) -> None:
        port = self._params[k].port
        for inst in self._instances:
            inst.controls[port] = value

    # -- state --------------------------------------------------------------------------------

    def _find_state_interface(self) -> _abi.StateInterface | None:
        if not self._section.state:
            return None
        extension_data = self._lib.descriptor.extension_data
        if not extension_data:
            return None
        address = extension_data(_abi.STATE_INTERFACE.encode())
        iface = _abi.StateInterface.from_address(address) if address else None
        return iface if iface is not None and iface.save and iface.restore else None

    def get_state(self) -> dict[str, Any]:
        """[main-thread & !processing] Control values, plus each instance's LV2 state.

        Raises:
            PluginError: the plugin's ``save`` failed or saved more than ``MAX_STATE_BYTES``.
        """
        state: dict[str, Any] = {"params": dict(self.values)}
        if self._state_iface is not None and self._instances:
            state["lv2"] = [self._save(inst) for inst in self._instances]
        elif self._pending_states is not None:
            state["lv2"] = self._pending_states
        return state

    def _save(self, inst: _Instance) -> dict[str, Any]:
        assert self._state_iface is not None and self._features is not None
        urids = self._features.urids
        saved: dict[str, Any] = {}
        total = 0

        def store(
            _h: object, key: int, value: int | None, size: int, vtype: int, flags: int
        ) -> int:
            nonlocal total
            total += int(size)
            if total > MAX_STATE_BYTES or not value:
                return 1  # LV2_STATE_ERR_UNKNOWN
            data = ctypes.string_at(value, int(size))
            saved[urids.uri(key)] = {
                "type": urids.uri(vtype), "flags": int(flags),
                "value": base64.b64encode(data).decode("ascii"),
            }  # fmt: skip
            return 0

        callback = _abi.StoreFn(store)
        status = self._state_iface.save(
            inst.handle, ctypes.cast(callback, ctypes.c_void_p), None,
            _abi.STATE_IS_POD | _abi.STATE_IS_PORTABLE, self._features.address,
        )  # fmt: skip
        if status != 0 or total > MAX_STATE_BYTES:
            raise PluginError(
                f"plugin {self.plugin_id!r}: state save failed (status {status}, {total} bytes)"
            )
        return saved

    def set_state(self, state: Mapping[str, Any]) -> None:
        """[main-thread & !processing] Restore what :meth:`get_state` returned.

        Raises:
            PluginError: malformed saved state, or the plugin's ``restore`` failed.
        """
        for name, value in dict(state.get("params", {})).items():
            k = self._index.get(str(name))
            if k is not None and isinstance(value, int | float) and math.isfinite(value):
                self.values[str(name)] = snapped = self._params[k].snap(float(value))
                self._write(k, snapped)
        saved = state.get("lv2")
        if saved is None:
            return
        if not isinstance(saved, list):
            raise PluginError(f"plugin {self.plugin_id!r}: saved lv2 state must be a list")
        if not self._instances:
            self._pending_states = saved
            return
        self._restore(saved)

    def _restore(self, saved: list[Any]) -> None:
        if self._state_iface is None or self._features is None:
            return
        if len(saved) != len(self._instances):
            raise PluginError(
                f"plugin {self.plugin_id!r}: saved state holds {len(saved)} instance(s), the "
                f"node runs {len(self._instances)} (was the channel count changed?)"
            )
        for inst, entries in zip(self._instances, saved, strict=True):
            if isinstance(entries, dict):
                self._restore_one(inst, entries)

    def _restore_one(self, inst: _Instance, entries: Mapping[str, Any]) -> None:
        assert self._state_iface is not None and self._features is not None
        urids = self._features.urids
        values: dict[int, tuple[ctypes.Array[ctypes.c_char], int, int, int]] = {}
        total = 0
        for key, entry in entries.items():
            try:
                data = base64.b64decode(str(entry["value"]), validate=True)
                flags, vtype = int(entry.get("flags", 0)), str(entry["type"])
            except (KeyError, TypeError, ValueError, binascii.Error) as err:
                raise PluginError(f"plugin {self.plugin_id!r}: bad saved state {key!r}") from err
            total += len(data)
            if total > MAX_STATE_BYTES:
                raise PluginError(f"plugin {self.plugin_id!r}: saved state over the byte cap")
            buf = ctypes.create_string_buffer(data, max(len(data), 1))
            values[urids.map(str(key).encode())] = (
                buf,
                len(data),
                urids.map(vtype.encode()),
                flags,
            )

        def retrieve(_h: object, key: int, size: Any, vtype: Any, flags: Any) -> int:
            found = values.get(int(key))
            if found is None:
                return 0
            buf, length, type_urid, saved_flags = found
            if size:
                size[0] = length
            if vtype:
                vtype[0] = type_urid
            if flags:
                flags[0] = saved_flags
            return ctypes.addressof(buf)

        callback = _abi.RetrieveFn(retrieve)
        status = self._state_iface.restore(
            inst.handle, ctypes.cast(callback, ctypes.c_void_p), None,
            _abi.STATE_IS_POD | _abi.STATE_IS_PORTABLE, self._features.address,
        )  # fmt: skip
        if status != 0:
            raise PluginError(f"plugin {self.plugin_id!r}: state restore failed ({status})")


def check_layout(name: str, section: Lv2Section, channels: int) -> int:
    """[any-thread] The plugin's channel width if it can serve ``channels``; refuse otherwise.

    Raises:
        PluginValidationError: the layout cannot be mapped (message says which would).
    """
    width = section.channels
    if width == channels or (width == 1 and channels >= 1):
        return width
    raise PluginValidationError(
        name,
        f"the plugin has {width} audio input(s) and output(s) but the node carries {channels} "
        f"channel(s); AERS maps N→N, or a mono plugin per channel — adopt the plugin's "
        f"{'mono' if channels == 1 else 'stereo'} variant",
    )
