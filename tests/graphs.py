"""The library of test graphs, and the node types they are built from.

Most tests need a small, valid routing graph and the built-in node types to load it
with. They take both from here instead of writing their own copy: the ``registry``
fixture (``tests/conftest.py``) is :func:`builtin_registry`, and the named graphs below
are the shapes several tests share. A test that exists to show one malformed input keeps
that input inline, where it is read.

Graphs are YAML *bodies* (``nodes`` and ``connections``); :func:`graph` puts the
top-level keys a test cares about in front, one per line, in the order given::

    text = graph(SINE_EQ, version=1, duration=0.5)

docs/install.md ("Writing a test") is the contributor's guide to both.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aers_host._nodetype import NodeType
    from aers_host.config import GraphConfig

#: Node types by name: the ``registry`` fixture, or a test's own extension of it.
Registry = Mapping[str, "NodeType"]

#: The ``load_graph`` fixture: ``(text, name="graph.yaml", **overrides)`` → loaded config.
LoadGraph = Callable[..., "GraphConfig"]


@cache
def builtin_registry() -> Registry:
    """The built-in node types (no entry points, no store), read-only, made once.

    An installed package or a developer's plugin store cannot change what a test builds.
    A test that needs more types builds its own mapping: ``{**registry, name: type}``.
    """
    from aers_host import default_registry

    return MappingProxyType(dict(default_registry(entry_points=False, store=False)))


def graph(body: str, **top: object) -> str:
    """``body`` (dedented) after the top-level keys ``top``, one ``key: value`` line each."""
    head = "".join(f"{key}: {value}\n" for key, value in top.items())
    return head + textwrap.dedent(body).lstrip()


#: A tone through a peaking EQ into an output: the config reference's first chain
#: (docs/config.md). ``tone`` 440 Hz at -12 dBFS, ``eq1`` +3 dB at 1 kHz, output ``main``.
SINE_EQ = """
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      eq1:  {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0}]}}
      main: {type: output}
    connections:
      - {from: tone, to: eq1}
      - {from: eq1, to: main}
"""

#: A tone through a unity gain into an output: ``tone`` 440 Hz at -12 dBFS, ``g`` at
#: 0 dB (the node a test edits or automates), output ``main``.
SINE_GAIN = """
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      g:    {type: gain, params: {gain_db: 0}}
      main: {type: output}
    connections:
      - {from: tone, to: g}
      - {from: g, to: main}
"""

#: A tone straight into an output: ``tone`` 440 Hz at -6 dBFS, output ``main``.
SINE = """
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -6}}
      main: {type: output}
    connections:
      - {from: tone, to: main}
"""

#: A tone and a -120 dBFS hiss summed by ``g`` (0 dB) into ``main.wav``: the base config
#: the sweep tests vary. ``hiss`` sets no seed, so the top-level ``seed`` changes the audio.
SWEEP_BASE = """
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      g: {type: gain, params: {gain_db: 0}}
      main: {type: output, params: {path: main.wav}}
      hiss: {type: noise, params: {level_db: -120}}
    connections:
      - {from: tone, to: g}
      - {from: g, to: main}
      - {from: hiss, to: g}
"""

#: A full-scale 1 kHz tone through ``g`` at -6 dB into ``main``: a sound card, a meter or
#: a capture should see a 1 kHz sine at -6 dBFS. The JACK tests play it.
TONE_1K_GAIN = """
    nodes:
      tone: {type: sine, params: {freq: 1000, level_db: 0}}
      g: {type: gain, params: {gain_db: -6}}
      main: {type: output}
    connections:
      - {from: tone, to: g}
      - {from: g, to: main}
"""
