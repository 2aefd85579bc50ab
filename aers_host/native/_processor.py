"""``NativeProcessor``: a native plugin instance behind the engine's Processor interface.

Invariants:

* Zero-copy: the plugin reads and writes the engine's own float32 rows. Each channel row is
  handed over as a pointer (``data + c * strides[0]``); pointer arrays are built once per
  distinct buffer (keyed by data address and row stride) and cached, so steady-state blocks
  allocate no buffers. An in-place call (``inp`` is ``out``) copies the input through a
  preallocated scratch buffer, because plugins are promised that in and out never alias;
  a buffer that is not float32 with contiguous rows is a caller bug (``ValueError``).
* Events are written into a preallocated array of ``aers_event_param_value_t``; values are
  clamped to the declared range and stepped params rounded, as the header promises plugins.
* Parameter values from the config reach the plugin as events at offset 0 of the first block
  after :meth:`prepare`, so they follow the same path as automation.
* The host keeps a mirror of current parameter values for :meth:`get_state` and the dashboard.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, final

import numpy as np

from .._features import HoldsResources, ReportsValues
from .._processor import Buffer, ParamEvent
from ..errors import PluginError
from . import _abi
from ._library import NativeLibrary, NativeParam

#: Pointer-array cache entries kept before the cache is cleared (buffers are few and reused).
_MAX_CACHED_BUFFERS: Final = 32
_FastProcessFn = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
_EVENT_SIZE: Final = ctypes.sizeof(_abi.EventParamValue)


@final
class NativeProcessor(HoldsResources, ReportsValues):
    """A native plugin instance; one per graph node (docs/architecture.md, docs/plugins.md).

    Like every Processor, the host never calls :meth:`get_state`, :meth:`set_state`,
    :meth:`reset` or :meth:`prepare` while :meth:`process` runs on another thread (the ABI
    tags those plugin functions ``[main-thread]``, meaning "not concurrently with process").

    Attributes:
        latency_samples: the plugin's reported latency, fixed once prepared.
        plugin_id: the manifest name, for messages.
    """

    def __init__(self, library: NativeLibrary, values: Mapping[str, float]) -> None:
        """[main-thread] Wrap ``library`` with initial parameter ``values`` (already validated)."""
        self.plugin_id = library.plugin_id
        self.latency_samples = 0
        self._lib = library
        self._entry = library.entry
        self._params: dict[str, NativeParam] = {p.spec.name: p for p in library.params}
        self._values: dict[str, float] = {p.spec.name: p.spec.default for p in library.params}
        self._values.update(values)
        self._handle: int | None = None
        self._channels = 0
        self._max_block = 0
        self._pending_values: dict[str, float] = dict(self._values)
        self._pending_blob: bytes | None = None
        self._proc = _abi.Process()
        self._proc_addr = ctypes.addressof(self._proc)
        # process() is called with plain integers (instance, &aers_process_t): the same
        # function, but with no per-block argument conversion objects.
        address = ctypes.cast(self._entry.process, ctypes.c_void_p).value
        if not address:
            raise RuntimeError("NativeLibrary entry without process() (checked at load)")
        self._process_fn = _FastProcessFn(address)
        self._events = (_abi.EventParamValue * 0)()
        self._pointer_cache: dict[tuple[int, int], tuple[ctypes.Array[ctypes.c_void_p], int]] = {}
        self._scratch = np.zeros((0, 0), np.float32)
        self._last_in: Buffer | None = None
        self._last_out: Buffer | None = None
        self._last_in_ptrs = self._last_out_ptrs = 0

    @property
    def values(self) -> Mapping[str, float]:
        """[any-thread] Running parameter values: the config's, then every change applied."""
        return self._values

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Create the plugin instance and every buffer it will use.

        Raises:
            PluginError: the plugin refused the format (create returned NULL), or a saved
                state given before prepare does not fit it.
        """
        self.close()
        handle = self._entry.create(float(sample_rate), int(max_block), int(channels))
        if not handle:
            raise PluginError(
                f"plugin {self.plugin_id!r}: create(sample_rate={sample_rate}, "
                f"max_block={max_block}, channels={channels}) returned NULL — the plugin does "
                "not support this format"
            )
        self._handle = int(handle)
        self._channels, self._max_block = int(channels), int(max_block)
        self.latency_samples = int(self._entry.latency(self._handle))
        self._proc.in_channels = self._proc.out_channels = self._channels
        self._grow_events(max(16, 2 * len(self._params)))
        self._pointer_cache.clear()
        self._last_in = self._last_out = None
        self._scratch = np.zeros((channels, max_block), np.float32)
        if self._pending_blob is not None:
            blob, self._pending_blob = self._pending_blob, None
            self._apply_blob(blob)
        self._pending_values = dict(self._values)

    def close(self) -> None:
        """[main-thread & !active] Destroy the plugin instance (prepare creates a new one)."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._entry.destroy(handle)

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:  # __init__ may have failed early
            self.close()

    def reset(self) -> None:
        """[main-thread] Clear the plugin's delay lines and filter memories; keep parameters."""
        if self._handle is not None:
            self._entry.reset(self._handle)

    # -- audio -------------------------------------------------------------------------------

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Render one block in place into ``out``.

        Raises:
            RuntimeError: called before :meth:`prepare` (a bug in the caller).
            ValueError: buffers that do not fit the prepared format, are not float32, or
                have non-contiguous rows (a bug in the caller).
            PluginError: the plugin's process() returned false (``out`` is silenced first).
        """
        handle = self._handle
        if handle is None:
            raise RuntimeError(f"plugin {self.plugin_id!r}: process() before prepare()")
        if len(self._pointer_cache) >= _MAX_CACHED_BUFFERS:  # only here: no pointer is in use
            self._pointer_cache.clear()
            self._last_in = self._last_out = None
        frames = out.shape[1]
        # The plugin trusts these numbers with raw pointers: a wrong shape here would be an
        # out-of-bounds read or write in native code, so they are checked on every block.
        if inp.shape != out.shape or out.shape[0] != self._channels or frames > self._max_block:
            raise ValueError(
                f"plugin {self.plugin_id!r}: prepared for {self._channels} channels x "
                f"{self._max_block} frames, got in {inp.shape} / out {out.shape}"
            )
        if frames == 0:
            return
        proc = self._proc
        proc.start = start
        proc.frames = frames
        # Fast path: the engine hands over the same array objects block after block; holding
        # a reference to the last one makes the identity test safe (its data cannot move).
        if out is self._last_out:
            out_ptrs = self._last_out_ptrs
        else:
            out_ptrs = self._last_out_ptrs = self._rows(out)
            self._last_out = out
        if inp is self._last_in:
            in_ptrs = self._last_in_ptrs
        else:
            in_ptrs = self._last_in_ptrs = self._rows(inp)
            self._last_in = inp
        if in_ptrs == out_ptrs:  # in-place call: the ABI promises plugins in and out never alias
            scratch = self._scratch[:, :frames]
            scratch[...] = inp
            in_ptrs = self._rows(scratch)
        proc.in_ = in_ptrs
        proc.out = out_ptrs
        proc.event_count = (
            self._fill_events(events, frames) if events or self._pending_values else 0
        )
        proc.events = ctypes.addressof(self._events) if proc.event_count else None
        if not self._process_fn(handle, self._proc_addr):
            out[...] = 0.0
            raise PluginError(f"plugin {self.plugin_id!r}: process() failed at sample {start}")

    def _rows(self, buf: Buffer) -> int:
        """Address of a cached ``float *[channels]`` pointing at ``buf``'s rows."""
        if buf.dtype != np.float32 or (buf.shape[1] > 1 and buf.strides[1] != 4):
            raise ValueError(
                f"plugin {self.plugin_id!r}: buffers must be float32 with contiguous rows "
                f"(got {buf.dtype}, strides {buf.strides})"
            )
        base = buf.ctypes.data
        key = (base, buf.strides[0])
        cached = self._pointer_cache.get(key)
        if cached is None:
            rows = (ctypes.c_void_p * max(1, buf.shape[0]))(
                *(base + c * buf.strides[0] for c in range(buf.shape[0]))
            )
            cached = self._pointer_cache[key] = (rows, ctypes.addressof(rows))
        return cached[1]

    def _fill_events(self, events: Sequence[ParamEvent], frames: int) -> int:
        """Write pending config values and ``events`` into the event array; return the count."""
        pending = self._pending_values
        needed = len(events) + len(pending)
        if needed > len(self._events):
            self._grow_events(2 * needed)  # amortised: only when a block beats the record
        slots = self._events
        count = 0
        if pending:
            for name, value in pending.items():
                count = self._put(slots, count, 0, self._params[name], value)
            pending.clear()
        params = self._params
        values = self._values
        for event in events:
            param = params.get(event.param)
            value = float(event.value)
            if param is None or value != value:  # unknown or NaN: automation never throws
                continue
            spec = param.spec
            value = min(max(value, spec.min), spec.max)
            if param.stepped:
                value = math.floor(value + 0.5)
            values[event.param] = value
            offset = min(max(event.offset, 0), frames)
            count = self._put(slots, count, offset, param, value)
        return count

    @staticmethod
    def _put(
        slots: ctypes.Array[_abi.EventParamValue],
        i: int,
        offset: int,
        param: NativeParam,
        value: float,
    ) -> int:
        slot = slots[i]
        slot.header.time = offset
        slot.param_id = param.id
        slot.value = value
        return i + 1

    def _grow_events(self, capacity: int) -> None:
        if capacity <= len(self._events):
            return
        self._events = (_abi.EventParamValue * capacity)()
        for slot in self._events:
            slot.header.size = _EVENT_SIZE
            slot.header.space_id = _abi.CORE_EVENT_SPACE_ID
            slot.header.type = _abi.EVENT_PARAM_VALUE

    # -- state -------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Parameter values plus the plugin's own state blob (base64).

        Raises:
            PluginError: the plugin's get_state() failed.
        """
        state: dict[str, Any] = {
            "plugin": self._lib.descriptor_id,
            "abi": self._lib.version,
            "params": dict(self._values),
        }
        if self._handle is not None:
            state["blob"] = base64.b64encode(self._read_blob()).decode("ascii")
        elif self._pending_blob is not None:
            state["blob"] = base64.b64encode(self._pending_blob).decode("ascii")
        return state

    def _read_blob(self) -> bytes:
        size = int(self._entry.get_state(self._handle, None, 0))
        for _ in range(4):  # the size may change between calls; loop until it is stable
            if size < 0:
                break
            buf = (ctypes.c_uint8 * max(1, size))()
            written = int(self._entry.get_state(self._handle, buf, size))
            if 0 <= written <= size:
                return bytes(buf)[:written]
            size = written
        raise PluginError(f"plugin {self.plugin_id!r}: get_state() failed")

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore what :meth:`get_state` returned.

        Without a ``blob`` only the parameter values are restored.

        Raises:
            PluginError: the blob is not base64, or the plugin refused it.
        """
        params = {
            k: float(v) for k, v in dict(state.get("params", {})).items() if k in self._params
        }
        self._values.update(params)
        blob_text = state.get("blob")
        if blob_text is None:
            self._pending_values.update(params)
            return
        try:
            blob = base64.b64decode(str(blob_text), validate=True)
        except (binascii.Error, ValueError) as err:
            raise PluginError(f"plugin {self.plugin_id!r}: state blob is not base64") from err
        if self._handle is None:
            self._pending_blob = blob
        else:
            self._apply_blob(blob)
            self._pending_values.clear()  # the blob carries the plugin's parameter values

    def _apply_blob(self, blob: bytes) -> None:
        data = (ctypes.c_uint8 * max(1, len(blob))).from_buffer_copy(blob.ljust(1, b"\0"))
        if not self._entry.set_state(self._handle, data, len(blob)):
            raise PluginError(
                f"plugin {self.plugin_id!r}: set_state() refused the saved state (made by a "
                "different version, sample rate or channel count?)"
            )
