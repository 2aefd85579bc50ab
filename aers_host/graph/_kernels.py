"""numba kernels for the engine's own per-block work: summing inputs and aligning paths.

A numpy expression like ``dst += g * src`` allocates a temporary per block; these loops
write in place, and cost ~0.3 µs per call once compiled (``cache=True`` keeps the compiled
code on disk, warmed at setup by ``aers doctor --warm``).

Unlike the DSP kernels (``nogil=True``), these keep the GIL: each runs for well under a
microsecond per call, and releasing the GIL there would only add points where another
thread (a lane of a threaded engine, the server's event loop) takes it and this thread
then waits to get it back — a hand-off costs more than the kernel (docs/architecture.md,
"Two cores").
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def mix_scaled(dst: np.ndarray, src: np.ndarray, gain: float, accumulate: bool) -> None:
    """Dst = gain*src, or dst += gain*src when ``accumulate``; shapes (channels, frames)."""
    channels, frames = dst.shape
    g = np.float32(gain)
    if accumulate:
        for c in range(channels):
            for i in range(frames):
                dst[c, i] += g * src[c, i]
    else:
        for c in range(channels):
            for i in range(frames):
                dst[c, i] = g * src[c, i]


@njit(cache=True)
def mix_delayed(
    dst: np.ndarray,
    src: np.ndarray,
    gain: float,
    accumulate: bool,
    line: np.ndarray,
    pos: int,
) -> int:
    """Mix ``src`` delayed by ``line.shape[1]`` samples into ``dst``; returns the new position.

    ``line`` is a ring buffer (channels, delay) holding the last ``delay`` input samples,
    so the output is exactly the input ``delay`` samples later, whatever the block size.
    """
    channels, frames = dst.shape
    length = line.shape[1]
    g = np.float32(gain)
    p = pos
    for i in range(frames):
        for c in range(channels):
            delayed = line[c, p]
            line[c, p] = src[c, i]
            if accumulate:
                dst[c, i] += g * delayed
            else:
                dst[c, i] = g * delayed
        p += 1
        if p == length:
            p = 0
    return p


@njit(cache=True)
def mix_ramped(
    dst: np.ndarray,
    src: np.ndarray,
    gain: float,
    step: float,
    hold: int,
    ramp: int,
    accumulate: bool,
    line: np.ndarray,
    pos: int,
) -> int:
    """Mix with a gain held for ``hold`` samples, then moving by ``step`` for ``ramp``.

    ``line`` delays the source like :func:`mix_delayed`; a zero-length line means none.
    Returns the new line position.
    """
    channels, frames = dst.shape
    length = line.shape[1]
    p = pos
    for i in range(frames):
        g = np.float32(gain + step * min(max(i - hold, 0), ramp))
        for c in range(channels):
            x = src[c, i]
            if length:
                delayed = line[c, p]
                line[c, p] = x
                x = delayed
            if accumulate:
                dst[c, i] += g * x
            else:
                dst[c, i] = g * x
        if length:
            p += 1
            if p == length:
                p = 0
    return p


@njit(cache=True)
def interleave_into(dst: np.ndarray, src: np.ndarray, at: int) -> None:
    """``dst[at + i, c] = src[c, i]``: a (channels, frames) block into a (frames, channels) chunk.

    The chunk is in the layout sound files take, so draining it is a contiguous copy
    instead of a transposing one (which cost ~160 µs per 64 k stereo frames). Indexing the
    chunk as a flat array with a constant stride lets the stereo loop vectorise.
    """
    channels, frames = src.shape
    flat = dst[at : at + frames].reshape(-1)
    if channels == 2:
        left, right = src[0], src[1]
        for i in range(frames):
            flat[2 * i] = left[i]
            flat[2 * i + 1] = right[i]
        return
    for c in range(channels):
        row = src[c]
        for i in range(frames):
            flat[i * channels + c] = row[i]


def warm() -> None:
    """Compile the kernels (populates the on-disk cache)."""
    a = np.zeros((1, 4), np.float32)
    mix_scaled(a, a, 1.0, True)
    mix_delayed(a, a, 1.0, False, np.zeros((1, 2), np.float32), 0)
    interleave_into(np.zeros((8, 1), np.float32), a, 2)
    mix_ramped(a, a, 0.0, 0.25, 1, 4, True, np.zeros((1, 0), np.float32), 0)


@njit(cache=True)
def all_finite(buf: np.ndarray) -> bool:
    """True when ``buf`` (channels, frames) holds no NaN or Inf.

    ``0 * x`` is 0 for every finite ``x`` and NaN for NaN/Inf, so one branch-free sum
    decides (the loop vectorises; an early exit would not).
    """
    acc = np.float32(0.0)
    channels, frames = buf.shape
    for c in range(channels):
        for i in range(frames):
            acc += buf[c, i] * np.float32(0.0)
    return bool(acc == 0.0)


@njit(cache=True)
def replace_nonfinite(out: np.ndarray, inp: np.ndarray, bypass: bool) -> None:
    """Write a node's fallback into ``out``: ``inp`` when ``bypass`` and it is finite, else 0."""
    use_input = bypass and inp.shape == out.shape and all_finite(inp)
    channels, frames = out.shape
    for c in range(channels):
        for i in range(frames):
            out[c, i] = inp[c, i] if use_input else np.float32(0.0)
