"""Compile (or load from numba's cache) every DSP kernel ahead of the first real block.

``aers doctor --warm`` calls :func:`warm_kernels` at setup so the first render does not pay
numba's compile time. Kernels are warmed through the processors themselves, once with whole
blocks and once split by a parameter event, which covers both array layouts numba
specialises on (C-contiguous blocks and strided sub-blocks); processors that render dense
automation in one call (``CHANGE_PARAMS``) run that kernel on both layouts too.
"""

from __future__ import annotations

import numpy as np

from .._processor import ParamEvent, ProcessorBase
from ._basic import Gain, Meter, Mix, Pan
from ._delay import Delay
from ._dynamics import Compressor, Limiter
from ._eq import Eq
from ._reverb import Reverb
from ._sources import Impulse, Noise, Sine


def _warm_set() -> list[tuple[ProcessorBase, int, int]]:
    """(processor, input channels, output channels) covering every kernel and branch."""
    return [
        (Gain(), 2, 2),
        (Mix(gain_db=-6.0), 2, 2),
        (Pan(), 1, 2),
        (Meter(), 2, 2),
        (Eq([{"type": "peak", "freq": 1000.0, "gain_db": 3.0}]), 2, 2),
        (Delay(32, feedback=0.5, mix=0.5), 2, 2),
        (Compressor(), 2, 2),
        (Compressor(detector="rms", knee_db=6.0), 1, 1),
        (Limiter(lookahead_ms=1.0), 2, 2),
        (Reverb(), 2, 2),
        (Reverb(), 1, 1),
        (Sine(channels=2), 0, 2),
        (Noise(channels=2, color="pink"), 0, 2),
        (Impulse(channels=1), 0, 1),
    ]


def warm_kernels() -> int:
    """[main-thread] Run every kernel once on tiny buffers; returns how many processors ran.

    Also exercises the delay's two-phase feedback API.
    """
    from .._denormals import FlushDenormals  # numba at import: only when warming

    frames = 16
    count = 0
    FlushDenormals()  # the engine's per-block FTZ/DAZ switch is compiled code too
    for proc, n_in, n_out in _warm_set():
        proc.prepare(48000, frames, n_in)
        inp = np.zeros((n_in, frames), np.float32)
        inp[:, 0] = 0.5
        out = np.zeros((n_out, frames), np.float32)
        proc.process(inp, out, 0, ())
        event = ParamEvent(frames // 2, proc.PARAMS[0].name if proc.PARAMS else "", 0.0)
        proc.process(inp, out, frames, (event,) if proc.PARAMS else ())
        for param in sorted(proc.CHANGE_PARAMS):  # whole blocks and the final partial one
            at = np.array([2 * frames, 2 * frames + 1], np.int64)
            values = np.array([proc.values[param]] * 2)
            proc.process_changes(inp, out, 2 * frames, param, at, values)
            proc.process_changes(inp[:, 1:], out[:, 1:], 2 * frames, param, at, values)
        if isinstance(proc, Delay):
            proc.feedback_read(inp, out, 2 * frames, ())
            proc.feedback_write(inp)
        count += 1
    return count
