"""Configs and helpers shared by the server tests (imported as a plain module)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

#: sine → gain(-40 dB) → bus ← noise → eq; bus → main. Live sources: no loop.
DEMO = """
    version: 1
    sample_rate: 48000
    block_size: 512
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -6}}
      hiss: {type: noise, params: {level_db: -30, seed: 3}}
      g:    {type: gain, params: {gain_db: -40, smoothing_ms: 0}}
      eq1:  {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0}]}}
      bus:  {type: mix}
      main: {type: output}
    connections:
      - {from: tone, to: g}
      - {from: g, to: bus}
      - {from: hiss, to: eq1}
      - {from: eq1, to: bus}
      - {from: bus, to: main}
"""

#: A 0.5 s scene with two events into an events node: loops every 24000 samples.
SCENE = """
    version: 1
    duration: 0.5
    nodes:
      fx:   {type: events, params: {channels: 1}}
      g:    {type: gain, params: {gain_db: -40}}
      main: {type: output}
    connections:
      - {from: fx, to: g}
      - {from: g, to: main}
    events:
      - {id: beep, category: fx, at: 4800, duration: 0.1, source: {generator: tone}, to: fx}
      - {id: boom, category: explosion, time: 0.3, duration: 0.05,
         source: {generator: tone}, to: fx}
"""

TOKEN = "s3cret-token-0123456789"


def write_config(tmp_path: Path, text: str, name: str = "graph.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def receive_until(ws: Any, kind: str, limit: int = 400) -> dict[str, Any]:
    """Read feed messages until one of ``type == kind`` arrives (frames in between are skipped)."""
    for _ in range(limit):
        msg = json.loads(ws.recv(timeout=10))
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind!r} message in {limit} messages")


_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r"(NaN|[+-]Inf|[-+]?[0-9.]+([eE][-+]?[0-9]+)?)$"
)


def parse_prometheus(text: str) -> dict[str, float]:
    """Check text format 0.0.4 line by line; return sample → value (raises on bad lines)."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in {"counter", "gauge", "summary", "histogram", "untyped"}, line
            assert name not in typed, f"TYPE twice: {line}"
            typed.add(name)
        elif line.startswith("# HELP ") or not line:
            continue
        else:
            assert _SAMPLE.match(line), f"bad sample line: {line!r}"
            key, value = line.rsplit(" ", 1)
            base = key.split("{")[0]
            assert any(base == t or base.startswith(t + "_") for t in typed), line
            samples[key] = float(value)
    return samples
