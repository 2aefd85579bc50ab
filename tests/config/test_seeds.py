"""The top-level ``seed`` derives every procedural source's seed unless it sets its own.

Issue 21, item 4. Checked on the audio (noise nodes) and on the parsed scene (generated
events), with the seed-0 event seeds compared to CRC-32 computed here, independently.
"""

from __future__ import annotations

import zlib

import numpy as np
from graphs import LoadGraph, Registry

from aers_host.events import events_for_config
from aers_host.graph import render

GRAPH = """
    {seed}
    duration: 0.02
    block_size: 256
    nodes:
      a: {{type: noise, params: {{channels: 1}}}}
      b: {{type: noise, params: {{channels: 1}}}}
      own: {{type: noise, params: {{channels: 1, seed: 5}}}}
      ev: {{type: events, params: {{channels: 1}}}}
      oa: {{type: output}}
      ob: {{type: output}}
      oown: {{type: output}}
      oev: {{type: output}}
    connections:
      - {{from: a, to: oa}}
      - {{from: b, to: ob}}
      - {{from: own, to: oown}}
      - {{from: ev, to: oev}}
    events:
      - {{id: burst, category: explosion, at: 0, source: {{generator: explosion}}}}
      - {{id: fixed, category: explosion, at: 0, source: {{generator: explosion, seed: 9}}}}
"""


def _render(load_graph: LoadGraph, registry: Registry, seed: str) -> dict[str, np.ndarray]:
    result = render(load_graph(GRAPH.format(seed=seed)), registry, out_dir=None, capture=True)
    return {k: v.copy() for k, v in result.captured.items()}


def test_top_level_seed_reaches_unseeded_noise_only(
    load_graph: LoadGraph, registry: Registry
) -> None:
    one, again, two = (_render(load_graph, registry, s) for s in ("seed: 1", "seed: 1", "seed: 2"))
    for out in ("oa", "ob", "oown"):
        assert np.array_equal(one[out], again[out])  # deterministic
    assert not np.array_equal(one["oa"], two["oa"])
    assert not np.array_equal(one["ob"], two["ob"])
    assert np.array_equal(one["oown"], two["oown"])  # sets its own seed


def test_unseeded_noise_nodes_are_distinct_streams(
    load_graph: LoadGraph, registry: Registry
) -> None:
    audio = _render(load_graph, registry, "")
    assert abs(np.corrcoef(audio["oa"][0], audio["ob"][0])[0, 1]) < 0.2


def test_events_derive_their_seed_from_the_top_level_seed(load_graph: LoadGraph) -> None:
    def seeds(seed: str) -> dict[str, int]:
        config = load_graph(GRAPH.format(seed=seed))
        return {ev.id: int(ev.source["seed"]) for ev in events_for_config(config)}

    at_zero, one, two = seeds(""), seeds("seed: 1"), seeds("seed: 2")
    assert at_zero["burst"] == zlib.crc32(b"burst") + 1  # what scenes have always used
    assert len({at_zero["burst"], one["burst"], two["burst"]}) == 3
    assert at_zero["fixed"] == one["fixed"] == two["fixed"] == 9


def test_resolved_config_shows_the_derived_seed(load_graph: LoadGraph) -> None:
    config = load_graph(GRAPH.format(seed="seed: 3"))
    assert config.nodes["own"].params["seed"] == 5
    derived = config.nodes["a"].params["seed"]
    assert derived != config.nodes["b"].params["seed"]
    assert "seed" not in config.data["nodes"]["a"]["params"]  # the document is unchanged
