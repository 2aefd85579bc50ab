"""Generated sources: sine, noise and impulse — pure functions of the absolute sample index.

Invariants:
    * Every sample depends only on its absolute index (and on state that advances exactly one
      step per sample), so rendering in blocks of 64, 512 or 4096 gives identical output.
    * ``noise`` is counter-based: white sample ``n`` of channel ``c`` is
      ``splitmix64(splitmix64(seed, c) + n)`` mapped to ``[-1, 1)``; pink runs Paul Kellet's
      refined filter over that stream (state carried across blocks).

Example:
    >>> import numpy as np
    >>> imp = Impulse(at=2, channels=1); imp.prepare(48000, 4, 0)
    >>> out = np.zeros((1, 4), np.float32)
    >>> imp.process(np.zeros((0, 4), np.float32), out, 0, ()); out.tolist()
    [[0.0, 0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._jit import kernel_from
from .._nodetype import BuiltinNodeType, CheckContext, NodeTraits, ParamIssue
from .._processor import BlockKernel, Buffer, ParamSpec, ProcessorBase
from ._common import (
    CHANNELS_PROPERTY,
    db_to_lin,
    kernel,
    load_state_array,
    numeric_values,
    source_channels,
    state_array,
)
from ._eq import nyquist_issue
from ._warm import warm_processor

#: Its module defines numba intrinsics at import, so it loads when the sine kernel compiles.
sin_turns = kernel_from("aers_host.dsp._vecmath", "sin_turns")

_LEVEL = ParamSpec("level_db", -12.0, -120.0, 24.0, "dB", "output level (peak)")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


class _Source(ProcessorBase):
    """A generator with a ``channels`` output count and no inputs."""

    def __init__(self, *, channels: int = 2, **values: float) -> None:
        super().__init__(**values)
        self.out_channels = int(channels)


@kernel
def _sine_kernel(
    out: Buffer, start: int, freq: float, sr: int, phase: float, amp: float
) -> None:  # pragma: no cover - compiled
    """``amp·sin(2π(freq·n/sr + phase))`` with the cycle count reduced exactly per second.

    The span is cut at whole seconds, so per sample there is no integer division, only a
    multiply-add and :func:`._vecmath.sin_turns`: the loop vectorises. Every channel gets
    the same samples.
    """
    channels, frames = out.shape
    inv_sr = 1.0 / sr
    k = 0
    while k < frames:
        seconds = (start + k) // sr
        rem = start + k - seconds * sr  # sample index within the second
        m = min(frames - k, sr - rem)
        whole = freq * seconds
        frac = whole - math.floor(whole) + phase
        row = out[0, k : k + m]
        for i in range(m):
            row[i] = amp * sin_turns(frac + freq * (rem + i) * inv_sr)
        k += m
    for c in range(1, channels):
        src, dst = out[0], out[c]
        for i in range(frames):
            dst[i] = src[i]


class Sine(_Source):
    """Sine tone; a ``freq`` change keeps the waveform continuous at the change's sample."""

    PARAMS = (
        ParamSpec("freq", 440.0, 1e-3, 192000.0, "Hz", "frequency (below Nyquist)"),
        _LEVEL,
        ParamSpec("phase", 0.0, 0.0, 1.0, "cycles", "phase at sample 0"),
    )

    def __init__(self, *, channels: int = 2, **values: float) -> None:
        super().__init__(channels=channels, **values)
        self._freq = self.values["freq"]
        self._offset = 0.0  # extra cycles keeping the phase continuous across freq changes
        self._next = 0  # absolute index of the next sample to render
        self._amp = 0.0

    def _on_param(self, name: str) -> None:
        self._amp = db_to_lin(self.values["level_db"])
        if name == "freq":
            new = self.values["freq"]
            shift = (self._freq - new) * self._next / self.sample_rate
            self._offset = (self._offset + shift) % 1.0
            self._freq = new

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Write the tone for samples ``start…``."""
        v = self.values
        phase = v["phase"] + self._offset
        _sine_kernel(out, start, v["freq"], self.sample_rate, phase, self._amp)
        self._next = start + out.shape[1]

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params plus the phase correction from earlier freq changes."""
        return {**super().get_state(), "offset": self._offset, "freq_now": self._freq,
                "next": self._next}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and the phase correction."""
        self._next = int(state.get("next", self._next))
        super().set_state(state)
        self._offset = float(state.get("offset", self._offset))
        self._freq = float(state.get("freq_now", self.values["freq"]))

    def reset(self) -> None:
        """[main-thread & !processing] Forget phase corrections from automation."""
        self._offset, self._next, self._freq = 0.0, 0, self.values["freq"]


@kernel
def _splitmix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


@kernel
def _noise_kernel(
    out: Buffer, start: int, seed: int, amp: float, pink: bool, bstate: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Counter-based white noise, optionally pinked (Kellet) with per-channel ``bstate``."""
    scale = 1.0 / 9007199254740992.0  # 2**-53
    for c in range(out.shape[0]):
        key = _splitmix(np.uint64(seed) ^ (np.uint64(c) << np.uint64(56)))
        b = bstate[c]
        for k in range(out.shape[1]):
            h = _splitmix(key + np.uint64(start + k))
            white = 2.0 * float(h >> _S11) * scale - 1.0
            if pink:
                b[0] = 0.99886 * b[0] + white * 0.0555179
                b[1] = 0.99332 * b[1] + white * 0.0750759
                b[2] = 0.96900 * b[2] + white * 0.1538520
                b[3] = 0.86650 * b[3] + white * 0.3104856
                b[4] = 0.55000 * b[4] + white * 0.5329522
                b[5] = -0.7616 * b[5] - white * 0.0168980
                v = (b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + white * 0.5362) * 0.11
                b[6] = white * 0.115926
            else:
                v = white
            out[c, k] = amp * v


@kernel
def _noise_block(
    inp: Buffer, out: Buffer, seed: int, amp: np.ndarray, pink: bool, bstate: np.ndarray,
    start: int,
) -> None:  # pragma: no cover - compiled
    """:func:`_noise_kernel` as a block call (``amp[0]`` derived once per level change)."""
    _noise_kernel(out, start, seed, amp[0], pink, bstate)


class Noise(_Source):
    """Seeded white or pink noise; white peaks at ``level_db`` (uniform in ±level)."""

    PARAMS = (_LEVEL,)

    def __init__(
        self, *, seed: int = 0, color: str = "white", channels: int = 2, **values: float
    ) -> None:
        if color not in ("white", "pink"):
            raise ValueError(f"color must be 'white' or 'pink', got {color!r}")
        super().__init__(channels=channels, **values)
        self.seed = int(seed) & 0x7FFFFFFFFFFFFFFF  # int64 for the kernel
        self.color = color
        self._b = np.zeros((self.out_channels, 7), np.float64)
        self._amp = np.zeros(1, np.float64)

    def _on_param(self, name: str) -> None:
        self._amp[0] = db_to_lin(self.values["level_db"])

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Write noise for samples ``start…``."""
        _noise_block(inp, out, self.seed, self._amp, self.color == "pink", self._b, start)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
        """[main-thread & !processing] :meth:`render` on fixed views."""
        args = (inp, out, self.seed, self._amp, self.color == "pink", self._b)
        return BlockKernel(_noise_block, args)

    def reset(self) -> None:
        """[main-thread & !processing] Clear the pink filter."""
        self._b.fill(0.0)

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params and the pink filter state."""
        return {**super().get_state(), "pink_state": state_array(self._b)}

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore params and the pink filter state."""
        super().set_state(state)
        if "pink_state" in state:
            load_state_array(self._b, state["pink_state"], "pink noise state")


class Impulse(_Source):
    """Single-sample clicks of ``10^(level_db/20)`` at ``at`` (and every ``every`` after)."""

    PARAMS = (ParamSpec("level_db", 0.0, -120.0, 24.0, "dB", "impulse height"),)

    def __init__(
        self, *, at: int = 0, every: int | None = None, channels: int = 2, **values: float
    ) -> None:
        super().__init__(channels=channels, **values)
        self.at = int(at)
        self.every = int(every) if every else 0

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Zeros, with the impulses that fall in this span."""
        out.fill(0.0)
        frames = out.shape[1]
        first = self.at
        if self.every and start > first:
            first += -(-(start - first) // self.every) * self.every  # ceil to the next period
        amp = db_to_lin(self.values["level_db"])
        while start <= first < start + frames:
            out[:, first - start] = amp
            if not self.every:
                break
            first += self.every


def check_sine(params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
    """[any-thread] ``freq`` must lie in (0, Nyquist)."""
    issue = nyquist_issue("freq", params.get("freq", 440.0), ctx)
    return [issue] if issue else []


def _sine_factory(params: Mapping[str, Any], ctx: CheckContext) -> Sine:
    values = numeric_values(params, Sine.PARAMS)
    return Sine(channels=int(params.get("channels", 2)), **values)


def _noise_factory(params: Mapping[str, Any], ctx: CheckContext) -> Noise:
    return Noise(
        seed=int(params.get("seed", 0)),
        color=str(params.get("color", "white")),
        channels=int(params.get("channels", 2)),
        **numeric_values(params, Noise.PARAMS),
    )


def _impulse_factory(params: Mapping[str, Any], ctx: CheckContext) -> Impulse:
    return Impulse(
        at=int(params.get("at", 0)),
        every=params.get("every"),
        channels=int(params.get("channels", 2)),
        **numeric_values(params, Impulse.PARAMS),
    )


SINE = BuiltinNodeType(
    name="sine",
    role="source",
    summary="sine tone, phase locked to the absolute sample index",
    factory=_sine_factory,
    specs=Sine.PARAMS,
    extra_properties={"channels": CHANNELS_PROPERTY},
    checker=check_sine,
    channels=source_channels,
    traits=NodeTraits(warm=lambda: warm_processor(Sine(channels=2), 0, 2)),
)
NOISE = BuiltinNodeType(
    name="noise",
    role="source",
    summary="seeded white or pink noise, block-size invariant",
    factory=_noise_factory,
    specs=Noise.PARAMS,
    extra_properties={
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                 "description": "default: derived from the config's seed and the node id"},
        "color": {"enum": ["white", "pink"], "default": "white"},
        "channels": CHANNELS_PROPERTY,
    },
    channels=source_channels,
    traits=NodeTraits(warm=lambda: warm_processor(Noise(channels=2, color="pink"), 0, 2)),
)
IMPULSE = BuiltinNodeType(
    name="impulse",
    role="source",
    summary="single-sample impulses at exact sample positions",
    factory=_impulse_factory,
    specs=Impulse.PARAMS,
    extra_properties={
        "at": {"type": "integer", "minimum": 0, "default": 0},
        "every": {"type": "integer", "minimum": 1},
        "channels": CHANNELS_PROPERTY,
    },
    channels=source_channels,
    traits=NodeTraits(warm=lambda: warm_processor(Impulse(channels=1), 0, 1)),
)
