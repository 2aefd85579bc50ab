"""Helpers shared by the built-in processors.

The kernel decorator, unit conversions, parameter plumbing and JSON-safe state arrays.

Invariants:
    * Every numba kernel is compiled with the same flags (``cache=True, fastmath=False``), so
      results are reproducible bit for bit across runs and machines with the same CPU.
    * State arrays cross the session boundary as nested lists of Python floats, which JSON
      round-trips exactly (float64 ``repr``), so a resumed render continues bit for bit.

Example:
    >>> round(db_to_lin(-6.0), 4)
    0.5012
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from .._jit import lazy_njit
from .._nodetype import ChannelError, CheckContext
from .._processor import ParamSpec
from ..errors import SessionError

F = TypeVar("F", bound=Callable[..., Any])

#: Channel count property of every source (``channels`` param).
CHANNELS_PROPERTY: Mapping[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": 8,
    "default": 2,
    "description": "output channel count",
}


def kernel(fn: F) -> F:
    """[main-thread] Compile ``fn`` with ``numba.njit(cache=True, fastmath=False, nogil=True)``.

    Compiled on first use (:mod:`aers_host._jit`), so importing a node type for
    validation does not import numba.

    One decorator keeps every kernel on the same flags (no fast-math: IEEE semantics are what
    make block-size invariance and reference comparisons exact) and gives mypy a typed
    signature instead of numba's untyped decorator. ``nogil`` lets a threaded engine or a
    Dask worker run independent nodes in parallel; a kernel only touches the arrays of the
    one processor that called it.
    """
    return lazy_njit(cache=True, fastmath=False, nogil=True)(fn)


def db_to_lin(db: float) -> float:
    """[any-thread] Convert decibels to a linear amplitude factor."""
    return float(10.0 ** (db / 20.0))


def time_constant(ms: float, sample_rate: int) -> float:
    """[any-thread] One-pole coefficient reaching 1/e of a step in ``ms`` (0 ms → 0, instant)."""
    if ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (ms * sample_rate))


def numeric_values(params: Mapping[str, Any], specs: Sequence[ParamSpec]) -> dict[str, float]:
    """[any-thread] The declared numeric params in ``params``, as floats for ``ProcessorBase``."""
    return {spec.name: float(params[spec.name]) for spec in specs if spec.name in params}


def source_channels(
    params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext
) -> int:
    """[any-thread] Channel rule of sources: the ``channels`` param (default 2), no inputs."""
    if input_channels:
        raise ChannelError(
            f"a source takes no input but {input_channels} channel(s) are connected to it",
            "remove the connections into this node",
        )
    return int(params.get("channels", 2))


def state_array(array: npt.NDArray[Any]) -> list[Any]:
    """[main-thread] A JSON-serialisable copy of a state array (exact for float64)."""
    return cast(list[Any], array.tolist())


def save_arrays(owner: object, names: Sequence[str]) -> dict[str, list[Any]]:
    """[main-thread] ``{name without leading underscore: list}`` for each array attribute."""
    return {name.lstrip("_"): state_array(getattr(owner, name)) for name in names}


def load_arrays(owner: object, names: Sequence[str], state: Mapping[str, Any], what: str) -> None:
    """[main-thread] Restore what :func:`save_arrays` returned into the preallocated arrays.

    Raises:
        SessionError: a saved array does not fit its preallocated counterpart.
    """
    for name in names:
        if name.lstrip("_") in state:
            load_state_array(getattr(owner, name), state[name.lstrip("_")], what)


def load_state_array(dst: npt.NDArray[Any], data: Any, what: str) -> None:
    """[main-thread] Copy saved state ``data`` into the preallocated ``dst``.

    Raises:
        SessionError: the saved shape differs from the prepared one (the session was saved
            with another sample rate, channel count or delay length).
    """
    src = np.asarray(data, dtype=dst.dtype)
    if src.size == 0 and dst.size == 0:
        return  # JSON keeps no shape for empty arrays: (2, 0, 2) comes back as (2, 0)
    if src.shape != dst.shape:
        raise SessionError(
            f"saved {what} has shape {src.shape} but the prepared processor needs "
            f"{dst.shape}; resume with the same sample rate and channel layout"
        )
    np.copyto(dst, src)
