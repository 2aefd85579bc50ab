"""Procedural event sources: footsteps, dialogue, explosions, ambience, test tones, impulses.

Every generator is a pure function ``(rng, sample_rate, frames, params) -> float32 mono``
wrapped in a :class:`BuiltinGenerator` that declares its parameters (so the event schema and
the validator know them) and its natural length. Invariants:

* Deterministic per seed: the only randomness is ``numpy.random.Generator(PCG64(seed))``,
  so a replayed event log reproduces the audio bit for bit. No data is downloaded.
* Transient generators are peak-normalised to -6 dBFS and beds to -26 dBFS RMS, so an
  event's ``gain_db`` is the single loudness knob of a scene.
* When ``frames`` is given the result has exactly that many frames; otherwise the
  generator's natural length (``None`` natural length means a duration is required).

Example:
    >>> gen = BUILTIN_GENERATORS["impulse"]
    >>> gen.generate(1, 48000, None, {}).tolist()
    [1.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .._processor import ParamSpec

Mono = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_PEAK = 0.5  # -6 dBFS: headroom for overlapping events on a bus


class EventGenerator(Protocol):
    """What the ``aers_register_event_generators`` hook returns: a named audio factory."""

    @property
    def name(self) -> str:
        """The ``generator:`` value scenes use."""
        ...

    def generate(
        self, seed: int, sample_rate: int, frames: int | None, params: Mapping[str, Any]
    ) -> Mono:
        """Render mono float32 audio; exactly ``frames`` long when given."""
        ...


@dataclass(frozen=True, slots=True)
class BuiltinGenerator:
    """A generator described by data, so its params feed the event schema and checks."""

    name: str
    summary: str
    fn: Callable[[np.random.Generator, int, int | None, Mapping[str, Any]], _F64]
    specs: tuple[ParamSpec, ...] = ()
    #: String parameters and their allowed values (first one is the default).
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Natural length in seconds for given params, or None when a duration is required.
    natural: Callable[[Mapping[str, Any]], float | None] = lambda _p: None

    def with_defaults(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Params with every declared default filled in (unknown keys are kept)."""
        merged: dict[str, Any] = {spec.name: spec.default for spec in self.specs}
        merged.update({name: values[0] for name, values in self.choices.items()})
        merged.update(params)
        return merged

    def natural_seconds(self, params: Mapping[str, Any]) -> float | None:
        """The source's own length, None for endless sources (tone, ambience)."""
        return self.natural(self.with_defaults(params))

    def generate(
        self, seed: int, sample_rate: int, frames: int | None, params: Mapping[str, Any]
    ) -> Mono:
        """Render deterministically from ``seed``; pads or trims to ``frames`` when given."""
        rng = np.random.Generator(np.random.PCG64(seed))
        full = self.with_defaults(params)
        out = self.fn(rng, sample_rate, frames, full)
        if frames is not None and out.shape[0] != frames:
            fitted = np.zeros(frames, np.float64)
            n = min(frames, out.shape[0])
            fitted[:n] = out[:n]
            out = fitted
        return np.ascontiguousarray(out, dtype=np.float32)


def _frames_for(sample_rate: int, frames: int | None, seconds: float) -> int:
    return frames if frames is not None else max(1, round(seconds * sample_rate))


def _normalise_peak(x: _F64, peak: float = _PEAK) -> _F64:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / top) if top > 0 else x


def _burst(rng: np.random.Generator, sr: int, decay_s: float, sos: _F64) -> _F64:
    """A filtered noise transient with an exponential decay (a heel, a toe, a grain)."""
    from scipy import signal  # scipy loads with the first generated event

    n = max(2, int(decay_s * sr * 7))
    t = np.arange(n) / sr
    return np.asarray(signal.sosfilt(sos, rng.standard_normal(n)) * np.exp(-t / decay_s))


# (band low Hz, band high Hz, decay s, grains per step): what each surface sounds like.
_SURFACES: dict[str, tuple[float, float, float, int]] = {
    "concrete": (300.0, 6000.0, 0.018, 0),
    "wood": (120.0, 2500.0, 0.035, 0),
    "gravel": (500.0, 8000.0, 0.025, 40),
    "grass": (200.0, 4000.0, 0.030, 25),
    "metal": (800.0, 9000.0, 0.060, 0),
}


def _footsteps_seconds(p: Mapping[str, Any]) -> float:
    return (int(p["steps"]) - 1) / float(p["cadence_hz"]) + float(p["heel_toe_ms"]) / 1e3 + 0.3


def footsteps(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """Heel then toe transients per step at ``cadence_hz`` steps per second.

    The first heel lands on frame 0 (so an event's ``at`` is its first audible sample);
    later steps jitter by at most 8 ms, the way a walker never keeps perfect time.
    """
    from scipy import signal  # scipy loads with the first generated event

    cadence = float(p["cadence_hz"])
    lo, hi, decay, grains = _SURFACES[str(p["surface"])]
    steps = int(p["steps"]) if frames is None else max(1, math.ceil(frames / sr * cadence))
    n = _frames_for(sr, frames, _footsteps_seconds({**p, "steps": steps}))
    out = np.zeros(n, np.float64)
    sos = signal.butter(2, [lo, min(hi, 0.45 * sr)], "bandpass", fs=sr, output="sos")
    toe_offset = int(float(p["heel_toe_ms"]) / 1e3 * sr)
    for k in range(steps):
        jitter = 0.0 if k == 0 else float(np.clip(rng.normal(0.0, 0.003), -0.008, 0.008))
        onset = round((k / cadence + jitter) * sr)
        level = 10 ** (rng.uniform(-1.5, 1.5) / 20)
        parts = [(onset, level), (onset + toe_offset, 0.6 * level)]
        parts += [
            (onset + int(rng.uniform(0.0, 0.12) * sr), 0.25 * level * rng.uniform(0.3, 1.0))
            for _ in range(grains)
        ]
        for start, amp in parts:
            if start >= n:
                continue
            hit = _burst(rng, sr, decay if amp >= 0.5 * level else decay / 4, sos)
            end = min(n, start + hit.shape[0])
            out[start:end] += amp * hit[: end - start]
    return _normalise_peak(out)


# Formant frequencies (F1, F2, F3) of the vowels /a e i o u/.
_VOWELS = np.array(
    [[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240]],
    np.float64,
)


def _syllable(rng: np.random.Generator, sr: int, n: int, f0: float, breath: float) -> _F64:
    """One voiced syllable: a glottal pulse train through three vowel formants."""
    from scipy import signal  # scipy loads with the first generated event

    t = np.arange(n) / sr
    pitch = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(2.0, 5.0) * t) - 0.1 * t)
    phase = np.cumsum(pitch / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    excitation = signal.lfilter([1.0], [1.0, -0.95], pulses) + breath * rng.standard_normal(n)
    voice = np.zeros(n, np.float64)
    for formant, gain in zip(_VOWELS[rng.integers(len(_VOWELS))], (1.0, 0.5, 0.25), strict=True):
        b, a = signal.iirpeak(min(float(formant), 0.45 * sr), Q=8.0, fs=sr)
        voice += gain * signal.lfilter(b, a, excitation)
    return np.asarray(voice * signal.windows.tukey(n, 0.4), np.float64)


def _dialogue_seconds(p: Mapping[str, Any]) -> float:
    return int(p["words"]) * (2.0 / float(p["syllable_rate"]) + 0.06) * (1 + float(p["pause_prob"]))


def dialogue(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """Speech-shaped bursts: words of 1-3 formant syllables, short gaps and phrase pauses.

    With a duration, words are added until it is filled; without, ``words`` words are spoken.
    """
    rate = float(p["syllable_rate"])
    budget = frames if frames is not None else None
    chunks: list[_F64] = []
    used, words = 0, 0
    while (budget is None and words < int(p["words"])) or (budget is not None and used < budget):
        for _ in range(int(rng.integers(1, 4))):
            n = int(sr / rate * rng.uniform(0.7, 1.3))
            chunks.append(_syllable(rng, sr, n, float(p["f0_hz"]), float(p["breathiness"])))
            used += n
        pause = rng.uniform(0.3, 0.7) if rng.uniform() < float(p["pause_prob"]) else 0.06
        gap = int(pause * sr)
        chunks.append(np.zeros(gap))
        used += gap
        words += 1
    return _normalise_peak(np.concatenate(chunks))


def _explosion_seconds(p: Mapping[str, Any]) -> float:
    return float(p["decay_s"]) + 0.3


def explosion(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """A pitched-down sub thump plus a noise burst that darkens over a long decay, and debris."""
    from scipy import signal  # scipy loads with the first generated event

    n = _frames_for(sr, frames, _explosion_seconds(p))
    t = np.arange(n) / sr
    decay = float(p["decay_s"])
    sweep = float(p["thump_hz"]) * (1.0 + 2.0 * np.exp(-t / 0.05))
    thump = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / 0.35)
    cutoff = min(float(p["brightness_hz"]), 0.45 * sr)
    noise = rng.standard_normal(n)
    bright = signal.sosfilt(signal.butter(4, cutoff, fs=sr, output="sos"), noise)
    dark = signal.sosfilt(signal.butter(4, cutoff / 4, fs=sr, output="sos"), noise)
    fade = np.exp(-t / (decay / 4))
    body = (fade * bright + (1 - fade) * dark) * np.exp(-t * 6.9 / decay)
    debris = np.zeros(n)
    count = int(float(p["debris"]) * 200)
    at = (rng.uniform(0.15, 0.6, count) ** 2 * decay * sr).astype(np.int64)
    debris[at[at < n]] = rng.uniform(-1.0, 1.0, int(np.count_nonzero(at < n)))
    debris = signal.sosfilt(
        signal.butter(2, [800, 0.4 * sr], "bandpass", fs=sr, output="sos"), debris
    )
    attack = np.minimum(1.0, t / 0.002)
    return _normalise_peak(attack * (1.2 * thump + body + 0.5 * debris))


def ambience(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """A coloured, band-limited noise bed with slow movement, -26 dBFS RMS, 20 ms fades."""
    from scipy import signal  # scipy loads with the first generated event

    n = _frames_for(sr, frames, 10.0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    tilt = {"white": 0.0, "pink": 0.5, "brown": 1.0}[str(p["color"])]
    spectrum[1:] /= freqs[1:] ** tilt
    spectrum[0] = 0.0
    bed = np.fft.irfft(spectrum, n)
    low = min(float(p["highpass_hz"]), 0.4 * sr)
    high = min(max(float(p["cutoff_hz"]), low * 1.5), 0.45 * sr)
    bed = signal.sosfilt(signal.butter(2, [low, high], "bandpass", fs=sr, output="sos"), bed)
    t = np.arange(n) / sr
    rate, depth = float(p["rate_hz"]), float(p["movement"])
    lfo = 0.5 * (
        np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
        + np.sin(2 * np.pi * rate * 1.618 * t + rng.uniform(0, 2 * np.pi))
    )
    bed = bed * (1.0 + depth * 0.5 * (lfo - 1.0))
    rms = float(np.sqrt(np.mean(bed**2))) if n else 0.0
    bed = bed * (10 ** (-26 / 20) / rms) if rms > 0 else bed
    ramp = min(n // 2, int(0.02 * sr))
    if ramp:
        bed[:ramp] *= np.linspace(0.0, 1.0, ramp)
        bed[n - ramp :] *= np.linspace(1.0, 0.0, ramp)
    return np.asarray(np.clip(bed, -1.0, 1.0), np.float64)


def tone(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """A full-scale sine from phase 0 (the level is the event's ``gain_db``)."""
    n = _frames_for(sr, frames, 1.0)
    return np.sin(2 * np.pi * float(p["freq"]) * np.arange(n) / sr)


def impulse(rng: np.random.Generator, sr: int, frames: int | None, p: Mapping[str, Any]) -> _F64:
    """A single full-scale sample at frame 0: the sample-accuracy probe."""
    out = np.zeros(_frames_for(sr, frames, 1.0 / sr))
    out[0] = 1.0
    return out


BUILTIN_GENERATORS: dict[str, BuiltinGenerator] = {
    gen.name: gen
    for gen in (
        BuiltinGenerator(
            "footsteps",
            "heel/toe transients at a walking cadence",
            footsteps,
            (
                ParamSpec("cadence_hz", 1.8, 0.5, 4.0, "steps/s"),
                ParamSpec("steps", 4, 1, 512),
                ParamSpec("heel_toe_ms", 45.0, 10.0, 150.0, "ms"),
            ),
            {"surface": tuple(_SURFACES)},
            _footsteps_seconds,
        ),
        BuiltinGenerator(
            "dialogue",
            "speech-shaped formant bursts with pauses",
            dialogue,
            (
                ParamSpec("f0_hz", 120.0, 60.0, 400.0, "Hz"),
                ParamSpec("syllable_rate", 4.5, 1.0, 10.0, "1/s"),
                ParamSpec("words", 8, 1, 500),
                ParamSpec("pause_prob", 0.25, 0.0, 1.0),
                ParamSpec("breathiness", 0.15, 0.0, 1.0),
            ),
            {},
            _dialogue_seconds,
        ),
        BuiltinGenerator(
            "explosion",
            "sub thump + noise burst with a long decay",
            explosion,
            (
                ParamSpec("decay_s", 2.0, 0.2, 10.0, "s"),
                ParamSpec("thump_hz", 55.0, 20.0, 200.0, "Hz"),
                ParamSpec("brightness_hz", 3000.0, 200.0, 20000.0, "Hz"),
                ParamSpec("debris", 0.3, 0.0, 1.0),
            ),
            {},
            _explosion_seconds,
        ),
        BuiltinGenerator(
            "ambience",
            "filtered noise bed (needs a duration)",
            ambience,
            (
                ParamSpec("cutoff_hz", 8000.0, 50.0, 24000.0, "Hz"),
                ParamSpec("highpass_hz", 40.0, 10.0, 2000.0, "Hz"),
                ParamSpec("movement", 0.3, 0.0, 1.0),
                ParamSpec("rate_hz", 0.1, 0.01, 2.0, "Hz"),
            ),
            {"color": ("pink", "brown", "white")},
        ),
        BuiltinGenerator(
            "tone",
            "full-scale sine (needs a duration)",
            tone,
            (ParamSpec("freq", 1000.0, 1.0, 24000.0, "Hz"),),
        ),
        BuiltinGenerator("impulse", "one full-scale sample", impulse, natural=lambda _p: 0.0),
    )
}

#: Parameters whose declared range is integral (steps, words): the schema says "integer".
INTEGER_PARAMS = frozenset({"steps", "words"})
