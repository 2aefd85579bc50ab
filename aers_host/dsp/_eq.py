"""Parametric EQ: RBJ Audio-EQ-Cookbook biquads in cascade, Direct Form II Transposed.

Invariants:
    * Coefficients follow Robert Bristow-Johnson's cookbook exactly (``A = 10^(gain/40)``,
      ``w0 = 2π f0 / fs``, ``α = sin(w0) / 2Q``), normalised so ``a0 = 1`` — the layout of a
      ``scipy.signal`` second-order section ``[b0, b1, b2, 1, a1, a2]``.
    * Filtering runs in float64 with the state carried across blocks, so processing in any
      block size equals one ``scipy.signal.sosfilt`` over the whole signal.

Example:
    >>> sos = rbj_sos({"type": "peak", "freq": 1000.0, "gain_db": 3.0, "q": 1.0}, 48000)
    >>> sos.shape
    (1, 6)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._nodetype import BuiltinNodeType, CheckContext, NodeTraits, ParamIssue
from .._processor import BlockKernel, Buffer, ParamEvent, ProcessorBase
from ..errors import SessionError
from ._common import kernel, load_state_array, state_array
from ._warm import warm_processor

BAND_TYPES = ("peak", "lowshelf", "highshelf", "lowpass", "highpass", "bandpass", "notch")
_DEFAULT_Q = 0.707
_BAND_EVENT = re.compile(r"bands\.(\d+)\.(freq|gain_db|q)$")


def _band_coeffs(kind: str, freq: float, gain_db: float, q: float, fs: float) -> tuple[float, ...]:
    """Cookbook ``(b0, b1, b2, a0, a1, a2)`` before normalisation."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * freq / fs
    cw, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    if kind == "peak":
        return 1 + alpha * a, -2 * cw, 1 - alpha * a, 1 + alpha / a, -2 * cw, 1 - alpha / a
    if kind in ("lowshelf", "highshelf"):
        s = 1.0 if kind == "lowshelf" else -1.0  # highshelf is lowshelf with cos(w0) negated
        k = 2.0 * math.sqrt(a) * alpha
        return (
            a * ((a + 1) - s * (a - 1) * cw + k),
            s * 2 * a * ((a - 1) - s * (a + 1) * cw),
            a * ((a + 1) - s * (a - 1) * cw - k),
            (a + 1) + s * (a - 1) * cw + k,
            -s * 2 * ((a - 1) + s * (a + 1) * cw),
            (a + 1) + s * (a - 1) * cw - k,
        )
    a0, a1, a2 = 1 + alpha, -2 * cw, 1 - alpha
    if kind == "lowpass":
        return (1 - cw) / 2, 1 - cw, (1 - cw) / 2, a0, a1, a2
    if kind == "highpass":
        return (1 + cw) / 2, -(1 + cw), (1 + cw) / 2, a0, a1, a2
    if kind == "bandpass":  # constant 0 dB peak gain
        return alpha, 0.0, -alpha, a0, a1, a2
    if kind == "notch":
        return 1.0, -2 * cw, 1.0, a0, a1, a2
    raise ValueError(f"unknown band type {kind!r} (expected one of {', '.join(BAND_TYPES)})")


def _write_sos(row: npt.NDArray[np.float64], band: Mapping[str, Any], fs: float) -> None:
    """[any-thread] Write the normalised section of ``band`` into ``row`` (no allocation)."""
    b0, b1, b2, a0, a1, a2 = _band_coeffs(
        str(band["type"]),
        float(band["freq"]),
        float(band.get("gain_db", 0.0)),
        float(band.get("q", _DEFAULT_Q)),
        fs,
    )
    row[0], row[1], row[2] = b0 / a0, b1 / a0, b2 / a0
    row[3], row[4], row[5] = 1.0, a1 / a0, a2 / a0


def rbj_sos(band: Mapping[str, Any], sample_rate: float) -> npt.NDArray[np.float64]:
    """[any-thread] The band as a scipy second-order section, shape ``(1, 6)``.

    Args:
        band: ``{type, freq, gain_db?, q?}`` as in the config.
        sample_rate: in Hz.

    Raises:
        ValueError: unknown band ``type``.
    """
    sos = np.empty((1, 6), np.float64)
    _write_sos(sos[0], band, float(sample_rate))
    return sos


@kernel
def _step(
    x: float, z0: float, z1: float, b0: float, b1: float, b2: float, a1: float, a2: float
) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """One DF2T sample in ``scipy.signal.sosfilt``'s operation order: ``(y, z0', z1')``."""
    y = b0 * x + z0
    return y, b1 * x - a1 * y + z1, b2 * x - a2 * y


@kernel
def _section(
    src: np.ndarray, dst: np.ndarray, sos: np.ndarray, b: int, z: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Section ``b`` of ``sos`` over every channel of ``src`` into ``dst`` (may be ``src``).

    The recursion is latency-bound (each sample waits for the previous one), so channels
    run in pairs: two independent recursions in one loop overlap in the pipeline, which
    nearly halves the time for stereo. The state lives in locals for the whole span (one
    load and one store per block instead of a memory round trip per sample).
    """
    b0, b1, b2, a1, a2 = sos[b, 0], sos[b, 1], sos[b, 2], sos[b, 4], sos[b, 5]
    channels, frames = src.shape
    c = 0
    while c + 1 < channels:
        p0, p1, q0, q1 = z[c, b, 0], z[c, b, 1], z[c + 1, b, 0], z[c + 1, b, 1]
        for n in range(frames):
            y, p0, p1 = _step(float(src[c, n]), p0, p1, b0, b1, b2, a1, a2)
            v, q0, q1 = _step(float(src[c + 1, n]), q0, q1, b0, b1, b2, a1, a2)
            dst[c, n] = y
            dst[c + 1, n] = v
        z[c, b, 0], z[c, b, 1], z[c + 1, b, 0], z[c + 1, b, 1] = p0, p1, q0, q1
        c += 2
    if c < channels:
        p0, p1 = z[c, b, 0], z[c, b, 1]
        for n in range(frames):
            y, p0, p1 = _step(float(src[c, n]), p0, p1, b0, b1, b2, a1, a2)
            dst[c, n] = y
        z[c, b, 0], z[c, b, 1] = p0, p1


@kernel
def biquad_cascade(
    inp: Buffer, out: Buffer, sos: np.ndarray, z: np.ndarray, work: np.ndarray
) -> None:  # pragma: no cover - compiled
    """[audio-thread] DF2T cascade of ``sos`` (bands, 6) on (channels, frames); ``z`` state.

    Sections run one after the other over the whole span; between sections the signal
    stays float64 in ``work`` (at least (channels, frames)), so the result equals the
    sample-by-sample cascade bit for bit. A single section goes straight to ``out``.
    """
    bands = sos.shape[0]
    if bands == 1:
        _section(inp, out, sos, 0, z)
        return
    span = work[: inp.shape[0], : inp.shape[1]]
    _section(inp, span, sos, 0, z)
    for b in range(1, bands - 1):
        _section(span, span, sos, b, z)
    _section(span, out, sos, bands - 1, z)


@kernel
def _eq_block(
    inp: Buffer, out: Buffer, sos: np.ndarray, z: np.ndarray, work: np.ndarray, start: int
) -> None:  # pragma: no cover - compiled
    """:func:`biquad_cascade` taking ``start`` too, so a bound block call is a plain partial."""
    biquad_cascade(inp, out, sos, z, work)


class Eq(ProcessorBase):
    """A cascade of RBJ biquads; bands are automatable as ``bands.<i>.freq|gain_db|q`` events."""

    def __init__(self, bands: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__()
        self.bands = [dict(band) for band in bands]
        self._sos = np.zeros((len(self.bands), 6), np.float64)
        self._z = np.zeros((0, len(self.bands), 2), np.float64)
        self._work = np.zeros((0, 0), np.float64)

    def _allocate(self) -> None:
        for i, band in enumerate(self.bands):
            _write_sos(self._sos[i], band, self.sample_rate)
        self._z = np.zeros((self.channels, len(self.bands), 2), np.float64)
        self._work = np.zeros((self.channels, self.max_block), np.float64)

    def _apply_event(self, event: ParamEvent) -> None:
        """[audio-thread] Retune one band; out-of-range values are clamped below Nyquist."""
        match = _BAND_EVENT.match(event.param)
        if match is None or int(match.group(1)) >= len(self.bands):
            return
        i, key = int(match.group(1)), match.group(2)
        value = float(event.value)
        if key == "freq":
            value = min(max(value, 1.0), 0.499 * self.sample_rate)
        elif key == "q":
            value = max(value, 1e-3)
        self.bands[i][key] = value
        _write_sos(self._sos[i], self.bands[i], self.sample_rate)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Filter the span (exact copy with no bands)."""
        if not self.bands:
            np.copyto(out, inp)
            return
        biquad_cascade(inp, out, self._sos, self._z, self._work)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel | None:
        """[main-thread & !processing] :meth:`render` on fixed views (None without bands)."""
        if not self.bands:
            return None
        return BlockKernel(_eq_block, (inp, out, self._sos, self._z, self._work))

    def reset(self) -> None:
        """[main-thread & !processing] Clear the filter memories."""
        self._z.fill(0.0)

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Bands and filter memories (float64, exact through JSON)."""
        return {"params": {}, "bands": [dict(b) for b in self.bands], "z": state_array(self._z)}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore bands (same count) and filter memories.

        Raises:
            SessionError: the saved state does not fit the prepared channel/band layout.
        """
        bands = state.get("bands")
        if bands is not None:
            if len(bands) != len(self.bands):
                raise SessionError(
                    f"saved eq has {len(bands)} bands but this node has {len(self.bands)}"
                )
            self.bands = [dict(b) for b in bands]
            if self.sample_rate:
                for i, band in enumerate(self.bands):
                    _write_sos(self._sos[i], band, self.sample_rate)
        if "z" in state and self.sample_rate:
            load_state_array(self._z, state["z"], "eq filter state")


def nyquist_issue(path: str, freq: Any, ctx: CheckContext) -> ParamIssue | None:
    """[any-thread] A frequency outside ``(0, Nyquist)`` as a ParamIssue (EQ bands and sine)."""
    nyquist = ctx.sample_rate / 2
    if not isinstance(freq, int | float) or isinstance(freq, bool):
        return ParamIssue(path, f"frequency must be a number, got {freq!r}")
    if freq <= 0:
        return ParamIssue(path, f"frequency {freq:g} Hz must be above 0 Hz", "use a positive value")
    if freq >= nyquist:
        return ParamIssue(
            path,
            f"frequency {freq:g} Hz is at or above Nyquist ({nyquist:g} Hz for "
            f"{ctx.sample_rate} Hz)",
            f"use a frequency below {nyquist:g} Hz or raise the graph's sample_rate",
        )
    return None


def check_eq(params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
    """[any-thread] Every band's frequency must lie in (0, Nyquist) and its Q must be positive."""
    issues: list[ParamIssue] = []
    for i, band in enumerate(params.get("bands", ())):
        issue = nyquist_issue(f"bands.{i}.freq", band.get("freq"), ctx)
        if issue:
            issues.append(issue)
        q = band.get("q", _DEFAULT_Q)
        if isinstance(q, int | float) and q <= 0:
            issues.append(
                ParamIssue(f"bands.{i}.q", f"q must be > 0, got {q:g}", "0.707 is Butterworth")
            )
    return issues


_BAND_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": list(BAND_TYPES)},
        "freq": {"type": "number", "description": "centre/corner frequency [Hz]"},
        "gain_db": {"type": "number", "minimum": -48, "maximum": 48, "default": 0},
        "q": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": _DEFAULT_Q},
    },
    "required": ["type", "freq"],
    "additionalProperties": False,
}

EQ = BuiltinNodeType(
    name="eq",
    role="processor",
    summary="parametric EQ: cascaded RBJ biquads",
    factory=lambda params, ctx: Eq(params.get("bands", ())),
    extra_properties={"bands": {"type": "array", "items": _BAND_SCHEMA, "maxItems": 64}},
    checker=check_eq,
    traits=NodeTraits(
        linear=True,
        warm=lambda: warm_processor(
            Eq([{"type": "peak", "freq": 1000.0, "gain_db": 3.0}]), 2, 2
        ),
    ),
)
