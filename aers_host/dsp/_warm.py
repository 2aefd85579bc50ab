"""Compile (or load from numba's cache) a node type's kernels ahead of its first real block.

Each node type declares its own warm-up (``NodeTraits.warm``), usually one or two calls of
:func:`warm_processor`; :func:`warm_kernels` runs those of the types it is given, so
``aers doctor --warm`` and ``aers serve`` cover exactly the registered types. A processor
is warmed once with whole blocks and once split by a parameter event, which covers both
array layouts numba specialises on (C-contiguous blocks and strided sub-blocks);
processors that render dense automation in one call (``CHANGE_PARAMS``) run that kernel on
both layouts too.

Example:
    >>> from aers_host.dsp._basic import GAIN
    >>> warm_kernels([GAIN])
    1
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .._nodetype import NodeType
from .._processor import Buffer, ParamEvent, ProcessorBase

#: Frames of the tiny blocks warm-up runs.
WARM_FRAMES = 16


def warm_buffers(n_in: int, n_out: int) -> tuple[Buffer, Buffer]:
    """An input block with a click at its first frame, and an output block."""
    inp = np.zeros((n_in, WARM_FRAMES), np.float32)
    inp[:, 0] = 0.5
    return inp, np.zeros((n_out, WARM_FRAMES), np.float32)


def warm_processor(proc: ProcessorBase, n_in: int, n_out: int) -> tuple[Buffer, Buffer]:
    """[main-thread] Prepare ``proc`` at 48 kHz and run every kernel path once.

    Args:
        proc: a fresh processor.
        n_in: its input channels (0 for a source).
        n_out: its output channels.

    Returns:
        The input and output blocks used, for a caller that warms more of its API.
    """
    frames = WARM_FRAMES
    proc.prepare(48000, frames, n_in)
    inp, out = warm_buffers(n_in, n_out)
    proc.process(inp, out, 0, ())
    event = ParamEvent(frames // 2, proc.PARAMS[0].name if proc.PARAMS else "", 0.0)
    proc.process(inp, out, frames, (event,) if proc.PARAMS else ())
    for param in sorted(proc.CHANGE_PARAMS):  # whole blocks and the final partial one
        at = np.array([2 * frames, 2 * frames + 1], np.int64)
        values = np.array([proc.values[param]] * 2)
        proc.process_changes(inp, out, 2 * frames, param, at, values)
        proc.process_changes(inp[:, 1:], out[:, 1:], 2 * frames, param, at, values)
    return inp, out


def warm_kernels(node_types: Iterable[NodeType]) -> int:
    """[main-thread] Run the warm-up each of ``node_types`` declares; returns how many ran."""
    from .._denormals import FlushDenormals  # numba at import: only when warming

    FlushDenormals()  # the engine's per-block FTZ/DAZ switch is compiled code too
    count = 0
    for node_type in node_types:
        if node_type.traits.warm is not None:
            node_type.traits.warm()
            count += 1
    return count
