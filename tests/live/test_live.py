"""Live edits: transactions, crossfades without clicks, state that survives, exact export."""

from __future__ import annotations

import copy
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry

from aers_host import load_config
from aers_host.errors import ConfigError, GraphError
from aers_host.graph import render
from aers_host.live import LiveGraph, apply_edits

BLOCK = 256
BASE = """
    block_size: 256
    duration: 1
    nodes:
      tone: {type: sine, params: {freq: 220, level_db: -12, channels: 1}}
      hum:  {type: sine, params: {freq: 110, level_db: -18, channels: 1}}
      g1:   {type: gain, params: {gain_db: -3}}
      bus:  {type: mix}
      out:  {type: output}
    connections:
      - {from: tone, to: g1}
      - {from: g1, to: bus}
      - {from: bus, to: out}
"""


def live_graph(
    registry: Registry, tmp_path: Path, text: str = BASE, fade_ms: float = 10.0
) -> LiveGraph:
    path = tmp_path / "live.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return LiveGraph(load_config(path, registry=registry), registry, crossfade_ms=fade_ms)


def run(live: LiveGraph, blocks: int) -> np.ndarray:
    chunks = []
    for _ in range(blocks):
        live.process_block(BLOCK)
        if "out" not in live.plan.index:  # the random test may remove it
            chunks.append(np.zeros((1, BLOCK), np.float32))
            continue
        sink = live.plan.node("out")
        src = live.plan.nodes[sink.direct].out_buf if sink.direct >= 0 else sink.in_buf
        chunks.append(src[:, :BLOCK].copy())
    return np.concatenate(chunks, axis=1)


def max_step(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio, axis=1)).max())


def test_invalid_edit_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    live = live_graph(registry, tmp_path)
    before_data, before_plan = copy.deepcopy(live.config.data), live.plan
    bad_edits = [
        {"op": "add_node", "id": "v", "type": "revreb"},
        [
            {"op": "add_node", "id": "v", "type": "reverb"},
            {"op": "connect", "from": "v", "to": "nope"},
        ],
        {"op": "connect", "from": "bus", "to": "g1"},  # a cycle without delay
        {"op": "set_param", "id": "g1", "param": "gain_db", "value": 99},
        {"op": "frobnicate"},
        {"op": "remove_node", "id": "ghost"},
    ]
    for ops in bad_edits:
        with pytest.raises(ConfigError):
            live.submit(ops)
    assert live.config.data == before_data and live.plan is before_plan
    run(live, 2)
    assert live.journal == []


def test_edit_messages_name_the_field() -> None:
    data = {"nodes": {"a": {"type": "sine"}}, "connections": []}
    with pytest.raises(
        ConfigError, match=r"edit\.0\.op: unknown operation 'conect' \(did you mean 'connect'\?\)"
    ):
        apply_edits(data, {"op": "conect", "from": "a", "to": "a"})
    with pytest.raises(ConfigError, match=r"edit\.1\.id: no node 'b'"):
        apply_edits(
            data, [{"op": "add_node", "id": "c", "type": "gain"}, {"op": "remove_node", "id": "b"}]
        )
    with pytest.raises(ConfigError, match=r"edit\.0: no connection a → c"):
        apply_edits(data, {"op": "disconnect", "from": "a", "to": "c"})
    assert data == {"nodes": {"a": {"type": "sine"}}, "connections": []}


def test_adding_a_path_fades_in_without_a_click(registry: Registry, tmp_path: Path) -> None:
    live = live_graph(registry, tmp_path)
    first = run(live, 8)
    ticket = live.submit([{"op": "connect", "from": "hum", "to": "bus", "gain_db": 0}], who="test")
    after = run(live, 12)
    assert ticket.sample == 8 * BLOCK and ticket.done.is_set()
    assert live.journal[0]["who"] == "test" and live.journal[0]["sample"] == 8 * BLOCK
    audio = np.concatenate([first, after], axis=1)
    # A 220 Hz tone at -15 dBFS moves at most ~0.005 per sample; the 110 Hz hum adds ~0.002.
    assert max_step(audio) < 0.01
    hum = 10 ** (-18 / 20)
    assert np.abs(after).max() > 10 ** (-15 / 20) + 0.5 * hum  # the new path is really there


def test_removing_a_path_fades_out(registry: Registry, tmp_path: Path) -> None:
    live = live_graph(registry, tmp_path, BASE + "      - {from: hum, to: bus}\n")
    run(live, 4)
    live.submit({"op": "disconnect", "from": "hum", "to": "bus"})
    audio = run(live, 10)
    assert max_step(audio) < 0.01
    # From the end of the fade on, the live output equals an offline render of the
    # exported (edited) config: the edit changed exactly what it said.
    settled = live.fade + BLOCK
    tail = audio[:, settled:]
    offline = run_offline(registry, tmp_path, BASE, 4 * BLOCK + settled, tail.shape[1])
    assert np.array_equal(tail, offline)


def run_offline(
    registry: Registry, tmp_path: Path, text: str, start: int, frames: int
) -> np.ndarray:
    path = tmp_path / "offline.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    cfg = load_config(path, registry=registry)
    total = (start + frames) / cfg.sample_rate
    audio = render(cfg, registry, out_dir=None, capture=True, duration=total).captured["out"]
    return audio[:, start : start + frames]


def test_delay_tail_keeps_ringing_through_an_edit(registry: Registry, tmp_path: Path) -> None:
    text = """
        block_size: 256
        duration: 1
        nodes:
          imp: {type: impulse, params: {channels: 1}}
          dly: {type: delay, params: {samples: 3000, feedback: 0.5, mix: 1.0}}
          hum: {type: sine, params: {freq: 110, level_db: -60, channels: 1}}
          out: {type: output}
        connections:
          - {from: imp, to: dly}
          - {from: dly, to: out}
    """
    live = live_graph(registry, tmp_path, text)
    before = run(live, 10)
    live.submit(
        [
            {"op": "add_node", "id": "g", "type": "gain", "params": {"gain_db": -6}},
            {"op": "connect", "from": "hum", "to": "g"},
            {"op": "connect", "from": "g", "to": "out"},
        ]
    )
    after = run(live, 30)
    audio = np.concatenate([before, after], axis=1)[0]
    # The -66 dB hum adds at most 5e-4; the echoes keep their feedback decay.
    assert audio[3000] == pytest.approx(1.0, abs=1e-3)
    assert audio[6000] == pytest.approx(0.5, abs=1e-3)
    assert audio[9000] == pytest.approx(0.25, abs=1e-3)


def test_set_param_keeps_the_processor_and_changes_the_value(
    registry: Registry, tmp_path: Path
) -> None:
    live = live_graph(registry, tmp_path)
    proc = live.plan.node("g1").proc
    run(live, 2)
    live.submit({"op": "set_param", "id": "g1", "param": "gain_db", "value": -20})
    run(live, 40)
    assert live.plan.node("g1").proc is proc
    assert live.config.nodes["g1"].params["gain_db"] == -20
    level = np.abs(run(live, 8)).max()
    assert level == pytest.approx(10 ** (-32 / 20), rel=0.02)


def test_replacing_a_node_crossfades_and_reports_latency(
    registry: Registry, tmp_path: Path
) -> None:
    # hum -> bus is kept, but the new limiter's latency means it must be delayed to stay
    # aligned: its old timing fades out while the compensated copy fades in.
    live = live_graph(registry, tmp_path, BASE + "      - {from: hum, to: bus}\n")
    run(live, 4)
    ticket = live.submit(
        {"op": "replace_node", "id": "g1", "type": "limiter", "params": {"lookahead_ms": 2}}
    )
    audio = run(live, 20)
    assert ticket.latency_before == 0 and ticket.latency_after == round(0.002 * 48000)
    assert max_step(audio) < 0.012  # the signal's own steepest step is ~0.009
    assert live.plan.node("g1").type_name == "limiter"
    assert "g1--old" not in live.plan.index
    assert live.plan.node("bus").edges[1].compensation == round(0.002 * 48000)


def test_edit_that_would_cycle_during_the_fade_is_refused_cleanly(
    registry: Registry, tmp_path: Path
) -> None:
    text = """
        block_size: 256
        duration: 1
        nodes:
          src: {type: sine}
          a: {type: gain}
          b: {type: gain}
          out: {type: output}
        connections:
          - {from: src, to: a}
          - {from: a, to: b}
          - {from: b, to: out}
    """
    live = live_graph(registry, tmp_path, text)
    with pytest.raises(GraphError, match="split the edit"):
        live.submit(
            [
                {"op": "disconnect", "from": "src", "to": "a"},
                {"op": "disconnect", "from": "a", "to": "b"},
                {"op": "disconnect", "from": "b", "to": "out"},
                {"op": "connect", "from": "src", "to": "b"},
                {"op": "connect", "from": "b", "to": "a"},
                {"op": "connect", "from": "a", "to": "out"},
            ]
        )
    assert live.journal == []


def test_random_edits_while_running(registry: Registry, tmp_path: Path) -> None:
    live = live_graph(registry, tmp_path)
    rng = random.Random(1234)
    types = ["gain", "eq", "delay", "pan", "mix", "reverb", "limiter", "bogus"]
    applied = refused = 0
    for step in range(200):
        nodes = list(live.config.nodes)
        choice = rng.random()
        if choice < 0.35:
            new_id = f"n{step}"
            node_type = rng.choice(types)
            params = (
                {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3}]}
                if node_type == "eq"
                else {}
            )
            if node_type == "delay":
                params = {"samples": rng.choice([0, 300, 5000])}
            ops: object = [
                {"op": "add_node", "id": new_id, "type": node_type, "params": params},
                {"op": "connect", "from": rng.choice(nodes), "to": new_id},
                {"op": "connect", "from": new_id, "to": rng.choice(["bus", "out", *nodes])},
            ]
        elif choice < 0.6:
            ops = {"op": "remove_node", "id": rng.choice([*nodes, "ghost"])}
        elif choice < 0.8:
            ops = {"op": "set_param", "id": "g1", "param": "gain_db", "value": rng.uniform(-40, 30)}
        else:
            ops = {"op": "connect", "from": rng.choice(nodes), "to": rng.choice(nodes)}
        before = copy.deepcopy(live.config.data)
        try:
            live.submit(ops)
            applied += 1
        except (ConfigError, GraphError):
            refused += 1
            assert live.config.data == before
        run(live, 2)
        run(live, 3)
        live.collect()
    assert applied > 20 and refused > 20
    assert len(live.journal) == applied
    # The exported config of the live graph is a valid config that renders.
    export = tmp_path / "export.yaml"
    import yaml

    export.write_text(yaml.safe_dump(dict(live.config.data)), encoding="utf-8")
    cfg = load_config(export, registry=registry, overrides={"duration": 0.05})
    assert render(cfg, registry, out_dir=None, capture=True).frames == 2400
    live.close()
