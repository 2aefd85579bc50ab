"""Flush denormals to zero while DSP runs, as every audio host does.

Recursive DSP — biquads, envelopes, feedback delays, reverb combs — decays towards zero once
its input stops, and the last stretch of that decay is subnormal numbers. On x86 each
operation on one takes a microcode assist: a peaking EQ fed silence after noise took 19 µs
per 128-frame block instead of 1 µs, enough to turn the quiet tail of a scene into xruns.
The CPU's FTZ (flush results to zero) and DAZ (treat subnormal inputs as zero) flags remove
the assists; the values involved are below 1e-38, far under any audible or measurable level.

The flags live in a per-thread register (MXCSR), so :class:`FlushDenormals` sets them for
one block and restores what was there after: a notebook thread that calls
``Graph.process`` keeps IEEE subnormals for everything else it computes. The register is
read and written by two tiny numba functions (LLVM's ``stmxcsr``/``ldmxcsr`` intrinsics);
on other architectures (ARM cores handle subnormals without a comparable penalty) the
guard does nothing and :func:`flush_supported` says so.

Example:
    >>> import numpy as np
    >>> guard = FlushDenormals()
    >>> saved = guard.enter()
    >>> tiny = float(np.float64(1e-300) * np.float64(1e-10))
    >>> guard.leave(saved)
    >>> tiny == 0.0 or not flush_supported()
    True
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable
from typing import Any

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic

cgutils: Any = _cgutils  # numba's code-generation helpers are untyped

#: MXCSR bits: FTZ (bit 15) and DAZ (bit 6).
_FTZ_DAZ = 0x8040


def flush_supported() -> bool:
    """Whether this CPU's denormal flags are set by :class:`FlushDenormals` (x86-64 only)."""
    return platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr_access(builder: Any, name: str) -> tuple[Any, Any]:
    """A 32-bit stack slot and a call of LLVM's ``stmxcsr``/``ldmxcsr`` on it."""
    slot = cgutils.alloca_once(builder, ir.IntType(32))
    pointer = builder.bitcast(slot, ir.IntType(8).as_pointer())
    access = ir.FunctionType(ir.VoidType(), [pointer.type])
    return slot, lambda: builder.call(
        cgutils.get_or_insert_function(builder.module, access, name), [pointer]
    )


def _read_typing(typingctx: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot, store = _mxcsr_access(builder, "llvm.x86.sse.stmxcsr")
        store()
        return builder.zext(builder.load(slot), ir.IntType(64))

    return types.int64(), codegen


def _write_typing(typingctx: Any, value: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        slot, load = _mxcsr_access(builder, "llvm.x86.sse.ldmxcsr")
        builder.store(builder.trunc(args[0], ir.IntType(32)), slot)
        load()
        return context.get_dummy_value()

    return types.none(types.int64), codegen


_read_mxcsr: Any = intrinsic(_read_typing)
_write_mxcsr: Any = intrinsic(_write_typing)


@njit(cache=True)
def _enter(flags: int) -> int:  # pragma: no cover - compiled
    previous: int = _read_mxcsr()
    _write_mxcsr(previous | flags)
    return previous


@njit(cache=True)
def _leave(saved: int) -> None:  # pragma: no cover - compiled
    _write_mxcsr(saved)


class FlushDenormals:
    """[audio-thread] ``saved = guard.enter()`` … ``guard.leave(saved)`` around a block.

    ``enter`` sets FTZ and DAZ on the calling thread and returns the register value that
    ``leave`` restores. Both are the compiled entry points themselves (no numba dispatch,
    no Python frame: ~0.1 µs per block for the pair); no-ops where :func:`flush_supported`
    is false.
    """

    enter: Callable[[], int]
    leave: Callable[[int], None]

    def __init__(self) -> None:
        from ._processor import compiled

        self.active = flush_supported()
        if self.active:
            self.enter = functools.partial(compiled(_enter, _FTZ_DAZ), _FTZ_DAZ)
            self.leave = compiled(_leave, 0)
        else:
            self.enter, self.leave = int, _keep


def _keep(saved: int) -> None:
    """Nothing to restore: the register was never touched."""
