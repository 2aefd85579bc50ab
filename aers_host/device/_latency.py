"""JACK port latency ranges: the part of libjack that JACK-Client does not wrap.

JACK asks every client, through a latency callback, how late each of its ports is relative
to the ports it reads from (``capture`` direction) or feeds (``playback`` direction); a DAW
adds up these ranges to align what it records. JACK-Client (0.5) has no binding for
``jack_set_latency_callback`` or ``jack_port_{get,set}_latency_range``, so this module
declares those three functions with cffi over the same ``libjack`` that JACK-Client
already loaded, and converts its client/port pointers by address.

Example:
    >>> binding = LatencyBinding(jack)                                    # doctest: +SKIP
    >>> binding.set_range(port, CAPTURE, 1024, 1024)                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

#: ``jack_latency_callback_mode_t`` values.
CAPTURE: Final = 0
PLAYBACK: Final = 1

_CDEF = """
typedef uint32_t jack_nframes_t;
typedef struct _jack_port jack_port_t;
typedef struct _jack_client jack_client_t;
typedef struct { jack_nframes_t min; jack_nframes_t max; } jack_latency_range_t;
typedef void (*JackLatencyCallback)(int mode, void *arg);
int jack_set_latency_callback(jack_client_t *client, JackLatencyCallback cb, void *arg);
void jack_port_get_latency_range(jack_port_t *port, int mode, jack_latency_range_t *range);
void jack_port_set_latency_range(jack_port_t *port, int mode, jack_latency_range_t *range);
"""


class LatencyBinding:
    """The three latency functions of the libjack that the ``jack`` module loaded."""

    def __init__(self, jack: Any) -> None:
        """[main-thread] Declare the functions (cffi ABI mode; nothing is compiled)."""
        import cffi

        self._jack = jack
        self.ffi = cffi.FFI()
        self.ffi.cdef(_CDEF)
        self.lib: Any = self.ffi.dlopen(jack._libname)
        self._range = self.ffi.new("jack_latency_range_t *")
        self._keep: Any = None

    def _ptr(self, obj: Any, ctype: str) -> Any:
        """``obj``'s C pointer (a JACK-Client Client or Port) as this binding's ``ctype``."""
        address = int(self._jack._ffi.cast("uintptr_t", obj._ptr))
        return self.ffi.cast(ctype, address)

    def on_latency(self, client: Any, callback: Callable[[int], None]) -> None:
        """[main-thread & !active] Call ``callback(mode)`` when JACK recomputes latencies.

        Raises:
            RuntimeError: libjack refused the callback.
        """

        def call(mode: int, arg: Any) -> None:
            callback(int(mode))

        self._keep = self.ffi.callback("JackLatencyCallback", call)  # alive while registered
        if self.lib.jack_set_latency_callback(self._ptr(client, "jack_client_t *"), self._keep,
                                              self.ffi.NULL):  # fmt: skip
            raise RuntimeError("jack_set_latency_callback failed")

    def get_range(self, port: Any, mode: int) -> tuple[int, int]:
        """[latency-callback or main-thread] (min, max) latency of ``port`` in frames."""
        self.lib.jack_port_get_latency_range(self._ptr(port, "jack_port_t *"), mode, self._range)
        return int(self._range.min), int(self._range.max)

    def set_range(self, port: Any, mode: int, low: int, high: int) -> None:
        """[latency-callback] Declare ``port``'s (min, max) latency in frames."""
        self._range.min, self._range.max = low, high
        self.lib.jack_port_set_latency_range(self._ptr(port, "jack_port_t *"), mode, self._range)
