"""Config texts and helpers shared by the dataset tests."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from graphs import Registry

from aers_host.config import GraphConfig
from aers_host.events import scheduler_for_config
from aers_host.graph import render

#: Linear event paths: reverb, eq, a feedback echo, a bed tone, a voice limit that steals,
#: an event called ``bed``, a second output fed by dialogue only and one no event reaches.
LINEAR = """
    duration: 1.5
    seed: 3
    routing: {footsteps: sfx, explosion: sfx, dialogue: dlg, ambience: amb}
    nodes:
      sfx:  {type: events, params: {channels: 2}, max_voices: 2, steal: oldest}
      dlg:  {type: events, params: {channels: 2}}
      amb:  {type: events, params: {channels: 2}}
      tone: {type: sine, params: {freq: 220, level_db: -20, channels: 2}}
      hum:  {type: sine, params: {freq: 50, level_db: -30, channels: 1}}
      eq:   {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0}]}}
      verb: {type: reverb, params: {room_size: 0.6}}
      bus:  {type: mix}
      echo: {type: delay, params: {ms: 120, feedback: 0.4, mix: 1.0}}
      main: {type: output}
      dlg_out: {type: output}
      hum_out: {type: output}
    connections:
      - {from: sfx, to: verb}
      - {from: verb, to: bus}
      - {from: dlg, to: eq}
      - {from: eq, to: bus}
      - {from: eq, to: dlg_out}
      - {from: amb, to: bus, gain_db: -6}
      - {from: tone, to: bus}
      - {from: bus, to: echo}
      - {from: echo, to: bus, gain_db: -10}
      - {from: bus, to: main}
      - {from: hum, to: hum_out}
    events:
      - {id: a1, category: ambience, time: 0.0, duration: 1.5, gain_db: -12,
         source: {generator: ambience, seed: 7}}
      - {id: s1, category: footsteps, time: 0.1, gain_db: -4, pan: -0.5,
         source: {generator: footsteps, seed: 1, steps: 3}}
      - {id: s2, category: footsteps, time: 0.3, gain_db: -4, pan: 0.5,
         source: {generator: footsteps, seed: 2, steps: 3}}
      - {id: b1, category: explosion, time: 0.50001, gain_db: -2,
         source: {generator: explosion, seed: 3, decay_s: 0.8}}
      - {id: d1, category: dialogue, time: 0.7, source: {generator: dialogue, seed: 4, words: 3}}
      - {id: bed, category: marker, at: 30000, to: sfx, source: {generator: impulse}}
"""

#: Nonlinear event paths: a lookahead limiter (with latency) and a ducker keyed by dialogue.
NONLINEAR = """
    duration: 1.0
    routing: {footsteps: sfx, dialogue: dlg, ambience: amb}
    nodes:
      sfx:  {type: events, params: {channels: 2}}
      dlg:  {type: events, params: {channels: 2}}
      amb:  {type: events, params: {channels: 2}}
      lim:  {type: limiter, params: {threshold_db: -12, lookahead_ms: 2}}
      duck: {type: duck, params: {depth_db: 12, threshold_db: -45}}
      bus:  {type: mix}
      out:  {type: output}
    connections:
      - {from: sfx, to: lim}
      - {from: lim, to: bus}
      - {from: amb, to: duck}
      - {from: dlg, to: duck, port: sidechain}
      - {from: duck, to: bus}
      - {from: dlg, to: bus}
      - {from: bus, to: out}
    events:
      - {id: amb1, category: ambience, time: 0.0, duration: 1.0, gain_db: -6,
         source: {generator: ambience, seed: 7}}
      - {id: st1, category: footsteps, time: 0.05, gain_db: 0,
         source: {generator: footsteps, seed: 1, steps: 3}}
      - {id: dl1, category: dialogue, time: 0.2, source: {generator: dialogue, seed: 2, words: 3}}
"""

#: An events node straight into an output: its input is what the output records.
DIRECT = """
    duration: 0.5
    nodes:
      ev:  {type: events, params: {channels: 2}}
      out: {type: output}
    connections:
      - {from: ev, to: out}
    events:
      - {id: t1, category: tone, time: 0.0, duration: 0.3, gain_db: -6, pan: -0.3,
         source: {generator: tone, freq: 440}}
      - {id: t2, category: tone, time: 0.1, duration: 0.3, gain_db: -6, pan: 0.3,
         source: {generator: tone, freq: 660}}
"""


def write(folder: Path, text: str, name: str = "graph.yaml") -> Path:
    """Write a dedented config text and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def render_mix(registry: Registry, cfg: GraphConfig) -> dict[str, npt.NDArray[np.float32]]:
    """Every output of a plain render with the config's events (what ``events record`` does)."""
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    result = render(
        cfg, registry, out_dir=None, events=sched, event_targets=sched.targets(), capture=True
    )
    return result.captured


def read(path: Path) -> npt.NDArray[np.float64]:
    """A WAV file as ``(channels, frames)`` float64."""
    data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return np.ascontiguousarray(data.T)


def dbfs(audio: npt.NDArray[np.float64]) -> float:
    """Peak level in dBFS (-inf for silence)."""
    peak = float(np.max(np.abs(audio)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def wav_sum(paths: list[Path], like: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Sum of WAV files, in float64, shaped like ``like``."""
    total = np.zeros(like.shape, np.float64)
    for path in paths:
        total += read(path)
    return total
