"""Compiled BS.1770-4 kernels: K-weighted energy per 100 ms segment, 4× true peak.

Both kernels are streaming: every bit of state that crosses a block boundary lives in
arrays the caller allocated once (filter memories, the last 11 input samples, segment
sums), so feeding a signal in blocks of any size gives the same figures as one call over
the whole signal, and a call allocates nothing (safe on the audio thread).

* :func:`kweight_energy` runs the two K-weighting biquads (direct form II transposed, in
  float64, as ``scipy.signal.sosfilt`` does) and adds ``G_c · y²`` into one sum per 100 ms
  segment. Momentary (4 segments), short-term (30) and the 400 ms gating blocks on the
  100 ms grid are sums of whole segments, so no per-window pass over the audio is needed.
* :func:`true_peak_block` interpolates 4× with the 48-tap polyphase FIR of ITU-R BS.1770-4
  Annex 2 (:data:`ANNEX2_PHASES`) and keeps the largest magnitude. A block whose
  interpolated values cannot exceed the peak found so far (``max |x| · max_p Σ|h_p|`` is
  an upper bound of every interpolated value) is skipped: the result is the same, only
  cheaper.

Example:
    >>> import numpy as np
    >>> peaks, hist = np.zeros(2), np.zeros((1, HISTORY))
    >>> x = np.sin(np.pi / 2 * np.arange(64) + np.pi / 4)[np.newaxis]  # fs/4 at 45°
    >>> _ = true_peak_block(x, 64, interpolator_taps(), hist, np.zeros(64 + HISTORY),
    ...                     np.zeros(SPAN), peaks)
    >>> round(float(peaks[0]), 3), round(float(peaks[1]), 2)   # sample peak, true peak
    (0.707, 1.0)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._jit import lazy_njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: ``(channels, frames)`` samples of any float type and layout.
Audio = npt.NDArray[np.floating]

#: ITU-R BS.1770-4 Annex 2: the 4 phases of the 48-tap interpolating FIR, ``h_p[k]``
#: multiplying ``x[n - k]`` (phase 0 is nearly the identity with 6 samples of delay).
ANNEX2_PHASES = (
    (0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
     -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
     0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500),
    (-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
     -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
     0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375),
    (-0.0189208984375, 0.0330810546875, -0.0582275390625, 0.1015625000000,
     -0.2003173828125, 0.7797851562500, 0.4650878906250, -0.1665039062500,
     0.0891113281250, -0.0517578125000, 0.0292968750000, -0.0291748046875),
    (-0.0083007812500, 0.0148925781250, -0.0266113281250, 0.0476074218750,
     -0.1022949218750, 0.9721679687500, 0.1373291015625, -0.0594482421875,
     0.0332031250000, -0.0196533203125, 0.0109863281250, 0.0017089843750),
)  # fmt: skip
#: Taps per phase, and the past input samples one interpolated value needs.
TAPS = 12
HISTORY = TAPS - 1
#: Outputs whose inputs are checked against the skip bounds together.
GROUP = 32
#: Outputs of a group interpolated one by one before the signal counts as dense there and
#: the next :data:`SPAN` outputs are interpolated in one vectorised pass.
SPARSE_LIMIT = 8
SPAN = 256
#: Taps of the (reversed) phases that carry the current pair of input samples.
_CENTRE = (5, 6)


def interpolator_taps() -> F64:
    """The Annex 2 phases reversed, ``(4, 12)``: row ``p`` dotted with ``x[n-11 … n]``."""
    return np.ascontiguousarray(np.asarray(ANNEX2_PHASES, np.float64)[:, ::-1])


@lazy_njit(cache=True, fastmath=False, nogil=True)
def kweight_energy(  # pragma: no cover - compiled
    x: Audio, frames: int, sos: F64, weights: F64, zi: F64, energy: F64, pos: I64
) -> None:
    """[audio-thread] K-weight ``x[:, :frames]`` and add ``G_c · y²`` into its 100 ms segments.

    Channels go through :func:`_kweight_pair` two at a time (an odd last channel is paired
    with itself at weight 0): the biquad recursions are latency-bound, and two independent
    ones interleave in the time of one.

    Args:
        x: ``(channels, >= frames)`` float32 or float64 audio.
        frames: how many frames of ``x`` to read.
        sos: ``(2, 6)`` K-weighting sections ``b0 b1 b2 1 a1 a2``.
        weights: ``(channels,)`` BS.1770 channel weights.
        zi: ``(channels, 2, 2)`` filter memories, carried across calls.
        energy: per-segment sums; ``energy[s]`` grows until segment ``s`` is complete.
            Segments past its end are dropped (the caller sized it for the run).
        pos: int64 ``[segment, fill, segment_length]``: where the next frame lands.
    """
    channels = x.shape[0]
    for a in range(0, channels, 2):
        b = a + 1 if a + 1 < channels else a
        _kweight_pair(x, a, b, weights[a], weights[b] if b != a else 0.0, frames, sos, zi,
                      energy, pos)  # fmt: skip
    seg, fill = pos[0], pos[1] + frames
    pos[0], pos[1] = seg + fill // pos[2], fill % pos[2]


@lazy_njit(cache=True, fastmath=False, nogil=True)
def _kweight_pair(  # pragma: no cover - compiled
    x: Audio, a: int, b: int, ga: float, gb: float, frames: int, sos: F64, zi: F64,
    energy: F64, pos: I64,
) -> None:
    """Channels ``a`` and ``b`` of :func:`kweight_energy` in one loop (``pos`` not advanced)."""
    b0, b1, b2, a1, a2 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    c0, c1, c2, d1, d2 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    seg, fill, seg_len = pos[0], pos[1], pos[2]
    capacity = energy.shape[0]
    p1, p2, q1, q2 = zi[a, 0, 0], zi[a, 0, 1], zi[a, 1, 0], zi[a, 1, 1]
    r1, r2, s1, s2 = zi[b, 0, 0], zi[b, 0, 1], zi[b, 1, 0], zi[b, 1, 1]
    acc_a, acc_b = 0.0, 0.0
    for n in range(frames):
        v, w = float(x[a, n]), float(x[b, n])
        y, z = b0 * v + p1, b0 * w + r1
        p1, r1 = b1 * v - a1 * y + p2, b1 * w - a1 * z + r2
        p2, r2 = b2 * v - a2 * y, b2 * w - a2 * z
        u, t = c0 * y + q1, c0 * z + s1
        q1, s1 = c1 * y - d1 * u + q2, c1 * z - d1 * t + s2
        q2, s2 = c2 * y - d2 * u, c2 * z - d2 * t
        acc_a += u * u
        acc_b += t * t
        fill += 1
        if fill == seg_len:
            if seg < capacity:
                energy[seg] += ga * acc_a + gb * acc_b
            acc_a, acc_b = 0.0, 0.0
            seg += 1
            fill = 0
    if seg < capacity:
        energy[seg] += ga * acc_a + gb * acc_b
    zi[a, 0, 0], zi[a, 0, 1], zi[a, 1, 0], zi[a, 1, 1] = p1, p2, q1, q2
    zi[b, 0, 0], zi[b, 0, 1], zi[b, 1, 0], zi[b, 1, 1] = r1, r2, s1, s2


@lazy_njit(cache=True, fastmath=False, nogil=True)
def _interpolated_peak(  # pragma: no cover - compiled
    work: F64, first: int, last: int, taps: F64, acc: F64
) -> float:
    """Largest ``|y_p[n]|`` over the phases for ``first <= n < last`` (``x[n]`` is ``work[n+11]``).

    Tap by tap over the run (``acc += h · x``) rather than a 12-term dot product per
    output: the inner loop is then contiguous and vectorises, with the same sums.
    """
    m = last - first
    run = work[first : last + HISTORY]  # a view: indices from 0, so no wrap-around checks
    best = 0.0
    for p in range(taps.shape[0]):
        for n in range(m):
            acc[n] = 0.0
        for k in range(TAPS):
            h = taps[p, k]
            for n in range(m):
                acc[n] += h * run[n + k]
        hi, lo = 0.0, 0.0
        for n in range(m):
            v = acc[n]
            hi = v if v > hi else hi
            lo = v if v < lo else lo
        best = max(best, hi, -lo)
    return best


@lazy_njit(cache=True, fastmath=False, nogil=True)
def _peak_at(work: F64, n: int, taps: F64) -> float:  # pragma: no cover - compiled
    """Largest ``|y_p[n]|`` over the phases at one position (the same sums as the run form)."""
    best = 0.0
    for p in range(taps.shape[0]):
        s = 0.0
        for k in range(TAPS):
            s += taps[p, k] * work[n + k]
        best = max(best, abs(s))
    return best


@lazy_njit(cache=True, fastmath=False, nogil=True)
def true_peak_block(  # pragma: no cover - compiled
    x: Audio, frames: int, taps: F64, hist: F64, work: F64, acc: F64, peaks: F64
) -> None:
    """[audio-thread] Raise ``peaks`` to the sample and 4× interpolated peaks of ``x[:, :frames]``.

    Two exact bounds decide what is computed. A group of :data:`GROUP` outputs whose
    inputs (with the 11 before them) peak at ``top`` cannot exceed ``max_p Σ|h_p| · top``:
    under the peak so far, it is skipped. Inside a group, an output cannot exceed
    ``centre · t + rest · top``, ``t`` the larger of its two centre input samples,
    ``centre``/``rest`` the largest sums of centre/other tap magnitudes of a phase; outputs
    under the peak so far are skipped, the others interpolated one by one — until
    :data:`SPARSE_LIMIT` were needed, when the next :data:`SPAN` outputs are interpolated
    in one vectorised pass. Skipping only drops values that cannot be the maximum, so the
    result is the full interpolation's.

    Args:
        x: ``(channels, >= frames)`` audio.
        frames: how many frames of ``x`` to read.
        taps: :func:`interpolator_taps`.
        hist: ``(channels, 11)`` the previous call's last input samples (zeros at first).
        work: scratch of at least ``frames + 11`` float64.
        acc: scratch of at least :data:`SPAN` float64.
        peaks: ``[sample peak, interpolated peak]``, linear magnitudes, raised in place.
    """
    bound, centre, rest = 0.0, 0.0, 0.0  # see above: no interpolated value exceeds these
    for p in range(taps.shape[0]):
        near = abs(taps[p, _CENTRE[0]]) + abs(taps[p, _CENTRE[1]])
        total = 0.0
        for k in range(TAPS):
            total += abs(taps[p, k])
        bound, centre, rest = max(bound, total), max(centre, near), max(rest, total - near)
    block_top = 0.0
    for c in range(x.shape[0]):
        for k in range(HISTORY):
            work[k] = hist[c, k]
        for n in range(frames):
            v = float(x[c, n])
            work[HISTORY + n] = v
            block_top = max(block_top, abs(v))
        best = peaks[1]
        first = 0
        while first < frames:
            last = min(frames, first + GROUP)
            top = 0.0
            for j in range(first, last + HISTORY):
                top = max(top, abs(work[j]))
            resume = last
            if top * bound > best:
                needed = 0
                for n in range(first, last):
                    t = max(abs(work[n + _CENTRE[0]]), abs(work[n + _CENTRE[1]]))
                    if centre * t + rest * top > best:
                        needed += 1
                        if needed > SPARSE_LIMIT:  # dense here: one vectorised run
                            resume = min(frames, n + SPAN)
                            best = max(best, _interpolated_peak(work, n, resume, taps, acc))
                            break
                        best = max(best, _peak_at(work, n, taps))
            first = resume
        peaks[1] = best
        for k in range(HISTORY):
            hist[c, k] = work[frames + k]
    peaks[0] = max(peaks[0], block_top)


@lazy_njit(cache=True, fastmath=False, nogil=True)
def measure_block(  # pragma: no cover - compiled
    x: Audio, frames: int, sos: F64, weights: F64, zi: F64, energy: F64, pos: I64,
    taps: F64, hist: F64, work: F64, acc: F64, peaks: F64,
) -> None:
    """[audio-thread] :func:`kweight_energy` and :func:`true_peak_block` in one call."""
    kweight_energy(x, frames, sos, weights, zi, energy, pos)
    true_peak_block(x, frames, taps, hist, work, acc, peaks)
