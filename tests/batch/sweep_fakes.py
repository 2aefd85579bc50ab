"""Tiny configs and sweep texts for the batch tests (built-in node types only)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from graphs import SWEEP_BASE, graph

BASE = graph(SWEEP_BASE, sample_rate=48000, block_size=256, duration=0.1)
"""``hiss`` takes the top-level seed (it sets none), so a ``seed`` axis changes the audio."""

SWEEP = """
    base: base.yaml
    axes:
      nodes.g.params.gain_db: [-6, 0]
      seed: "1..3"
"""

WriteSweep = Callable[..., Path]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def heavy_base(reverbs: int = 30, duration: float = 5.0) -> str:
    """A mono chain of reverbs: ~0.4 s of work per render, a small PCM_16 file."""
    nodes = "\n".join(f"      rv{i}: {{type: reverb}}" for i in range(reverbs))
    links = "\n".join(f"      - {{from: rv{i}, to: rv{i + 1}}}" for i in range(reverbs - 1))
    return f"""
    duration: {duration}
    nodes:
      n: {{type: noise, params: {{seed: 1, channels: 1}}}}
{nodes}
      main: {{type: output, params: {{path: main.wav, subtype: PCM_16}}}}
    connections:
      - {{from: n, to: rv0}}
{links}
      - {{from: rv{reverbs - 1}, to: main}}
"""
