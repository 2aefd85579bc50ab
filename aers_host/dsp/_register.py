"""The pluggy hook through which the built-in node types register, like any plugin."""

from __future__ import annotations

from collections.abc import Sequence

from .._nodetype import BuiltinNodeType
from ..plugins.hookspecs import hookimpl
from ._basic import GAIN, METER, MIX, PAN
from ._delay import DELAY
from ._dynamics import COMPRESSOR, LIMITER
from ._eq import EQ
from ._file import FILE
from ._reverb import REVERB
from ._sources import IMPULSE, NOISE, SINE

#: Every built-in node type, in the order ``aers plugin list`` shows them.
BUILTIN_NODE_TYPES: tuple[BuiltinNodeType, ...] = (
    FILE, SINE, NOISE, IMPULSE,
    GAIN, EQ, DELAY, PAN, MIX, COMPRESSOR, LIMITER, REVERB, METER,
)


@hookimpl
def aers_register_processors() -> Sequence[BuiltinNodeType]:
    """[main-thread] The built-in node types (pluggy hook ``aers_register_processors``)."""
    return list(BUILTIN_NODE_TYPES)
