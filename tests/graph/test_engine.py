"""The engine against analytic expectations: sample-exact timing, block invariance, PDC."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import LoadGraph, Registry

from aers_host.config import GraphConfig
from aers_host.graph import Engine, build_plan, render


def rendered(registry: Registry, cfg: GraphConfig, output: str = "out") -> np.ndarray:
    result = render(cfg, registry, out_dir=None, capture=True)
    return result.captured[output]


IMPULSE_DELAY = """
    duration: 0.1
    nodes:
      imp: {type: impulse, params: {channels: 1}}
      dly: {type: delay, params: {samples: 1234}}
      out: {type: output}
    connections:
      - {from: imp, to: dly}
      - {from: dly, to: out}
"""


@pytest.mark.parametrize("block", [64, 512, 4096])
def test_impulse_through_delay_lands_on_sample_1234(
    load_graph: LoadGraph, registry: Registry, block: int
) -> None:
    audio = rendered(registry, load_graph(IMPULSE_DELAY, block_size=block))
    assert audio.shape == (1, 4800)
    assert np.flatnonzero(audio[0]).tolist() == [1234]
    assert audio[0, 1234] == 1.0


RICH_GRAPH = """
    duration: 0.75
    seed: 7
    nodes:
      tone:  {type: sine, params: {freq: 330, level_db: -12}}
      hiss:  {type: noise, params: {level_db: -30, seed: 3}}
      clicks: {type: impulse, params: {every: 7001, level_db: -6}}
      eq1:   {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0},
                                         {type: lowshelf, freq: 200, gain_db: -2, q: 0.707}]}}
      g:     {type: gain, params: {gain_db: -3}}
      bus:   {type: mix}
      echo:  {type: delay, params: {samples: 4800, feedback: 0.2, mix: 1.0}}
      comp:  {type: compressor, params: {threshold_db: -20, ratio: 4}}
      verb:  {type: reverb, params: {room_size: 0.5}}
      lim:   {type: limiter, params: {threshold_db: -1}}
      pan1:  {type: pan, params: {pan: 0.3}}
      out:   {type: output}
    connections:
      - {from: tone, to: eq1}
      - {from: hiss, to: g}
      - {from: clicks, to: bus}
      - {from: eq1, to: bus}
      - {from: g, to: bus, gain_db: -6}
      - {from: bus, to: echo}
      - {from: echo, to: bus, gain_db: -3}
      - {from: bus, to: comp}
      - {from: comp, to: verb}
      - {from: verb, to: lim}
      - {from: lim, to: pan1}
      - {from: pan1, to: out}
"""


def test_block_size_does_not_change_the_output(load_graph: LoadGraph, registry: Registry) -> None:
    outputs = [rendered(registry, load_graph(RICH_GRAPH, block_size=b)) for b in (64, 512, 4096)]
    assert np.abs(outputs[0]).max() > 0.01
    for other in outputs[1:]:
        assert other.shape == outputs[0].shape
        assert np.abs(other - outputs[0]).max() <= 1e-6


def test_feedback_loop_through_delay_repeats_with_loop_gain(
    load_graph: LoadGraph, registry: Registry
) -> None:
    text = """
        duration: 0.5
        nodes:
          imp: {type: impulse, params: {channels: 1}}
          bus: {type: mix}
          dly: {type: delay, params: {samples: 1000}}
          out: {type: output}
        connections:
          - {from: imp, to: bus}
          - {from: bus, to: dly}
          - {from: dly, to: bus, gain_db: -6.0206}
          - {from: bus, to: out}
    """
    audio = rendered(registry, load_graph(text, block_size=256))[0]
    hits = np.flatnonzero(np.abs(audio) > 1e-9)
    assert hits[:4].tolist() == [0, 1000, 2000, 3000]
    expected = [0.5**k for k in range(4)]
    assert np.allclose(audio[hits[:4]], expected, atol=1e-4)


def test_parallel_paths_with_different_latency_are_aligned(
    load_graph: LoadGraph, registry: Registry
) -> None:
    # Path A goes through a lookahead limiter (latency, transparent well below threshold),
    # path B is direct; compensation must delay B so the mix is 2 x the source, delayed.
    text = """
        duration: 0.5
        nodes:
          src:  {type: noise, params: {level_db: -40, seed: 11, channels: 1}}
          lim:  {type: limiter, params: {threshold_db: -1, lookahead_ms: 5}}
          thru: {type: gain, params: {gain_db: 0}}
          bus:  {type: mix}
          out:  {type: output}
          ref:  {type: output}
        connections:
          - {from: src, to: lim}
          - {from: src, to: thru}
          - {from: lim, to: bus}
          - {from: thru, to: bus}
          - {from: bus, to: out}
          - {from: src, to: ref}
    """
    cfg = load_graph(text)
    plan = build_plan(cfg, registry)
    latency = plan.node("lim").latency
    plan.close()
    assert latency == 240
    result = render(cfg, registry, out_dir=None, capture=True)
    mix, source = result.captured["out"][0], result.captured["ref"][0]
    expected = np.zeros_like(source)
    expected[latency:] = 2.0 * source[:-latency]
    residual = np.abs(mix - expected).max()
    assert residual <= 10 ** (-120 / 20)
    assert result.plan.total_latency == latency


def test_every_block_carries_its_integer_start(load_graph: LoadGraph, registry: Registry) -> None:
    plan = build_plan(load_graph(IMPULSE_DELAY, block_size=128), registry)
    engine = Engine(plan)
    starts = [engine.process_block(f) for f in (128, 128, 100, 128)]
    assert starts == [0, 128, 256, 356]
    assert all(type(s) is int for s in starts)
    plan.close()


def test_automation_applies_at_the_exact_sample(load_graph: LoadGraph, registry: Registry) -> None:
    text = """
        duration: 0.05
        nodes:
          dc:  {type: impulse, params: {every: 1, channels: 1}}
          g:   {type: gain, params: {gain_db: 0, smoothing_ms: 0}}
          out: {type: output}
        connections:
          - {from: dc, to: g}
          - {from: g, to: out}
    """
    plan = build_plan(load_graph(text, block_size=512), registry)
    engine = Engine(plan)
    engine.schedule("g", "gain_db", -120.0, at=1000)
    blocks = []
    for _ in range(3):
        engine.process_block(512)
        blocks.append(plan.node("g").out_buf[0].copy())
    signal = np.concatenate(blocks)
    assert np.all(signal[:1000] == 1.0)
    assert np.all(signal[1000:] <= 1e-6)
    plan.close()


def test_bypass_and_mute(load_graph: LoadGraph, registry: Registry) -> None:
    text = """
        duration: 0.02
        nodes:
          dc:  {type: impulse, params: {every: 1, channels: 1}}
          g:   {type: gain, params: {gain_db: -6}, bypass: true}
          m:   {type: gain, params: {gain_db: 0}, mute: true}
          out: {type: output}
          silent: {type: output}
        connections:
          - {from: dc, to: g}
          - {from: g, to: out}
          - {from: dc, to: m}
          - {from: m, to: silent}
    """
    result = render(load_graph(text), registry, out_dir=None, capture=True)
    assert np.all(result.captured["out"] == 1.0)
    assert np.all(result.captured["silent"] == 0.0)


def test_pre_and_post_fader_sends(load_graph: LoadGraph, registry: Registry) -> None:
    # A channel strip: fader (gain -20 dB) after a lookahead limiter; a pre-fader send
    # taps the fader's input, a post-fader send its output. Both land on buses.
    text = """
        duration: 0.1
        nodes:
          src:   {type: noise, params: {level_db: -30, seed: 5, channels: 1}}
          lim:   {type: limiter, params: {lookahead_ms: 1}}
          fader: {type: gain, params: {gain_db: -20, smoothing_ms: 0}}
          pre:   {type: output}
          post:  {type: output}
          ref:   {type: output}
        connections:
          - {from: src, to: lim}
          - {from: lim, to: fader}
          - {from: fader, to: pre, tap: pre}
          - {from: fader, to: post}
          - {from: src, to: ref}
    """
    result = render(load_graph(text), registry, out_dir=None, capture=True)
    source = result.captured["ref"][0]
    latency = round(0.001 * 48000)
    delayed = np.concatenate([np.zeros(latency, np.float32), source[:-latency]])
    assert np.array_equal(result.captured["pre"][0], delayed)
    assert np.allclose(result.captured["post"][0], delayed * np.float32(0.1), atol=1e-9)


def test_pre_fader_send_from_a_source_is_refused(load_graph: LoadGraph) -> None:
    from aers_host.errors import ConfigError

    text = """
        duration: 0.1
        nodes:
          src: {type: sine}
          out: {type: output}
        connections:
          - {from: src, to: out, tap: pre}
    """
    with pytest.raises(ConfigError, match=r"connections\.0\.tap: 'src' is a source"):
        load_graph(text)


def test_an_undrained_output_sink_never_writes_past_its_chunk() -> None:
    from aers_host.graph import OutputSink

    sink = OutputSink({})
    sink.prepare(48000, 512, 2)
    block = np.ones((2, 512), np.float32)
    call = sink.bind_block(block, np.zeros((0, 512), np.float32))
    capacity = sink.chunk.shape[0]
    for _ in range(capacity // 512 + 3):
        call(0)
    sink.process(block, np.zeros((0, 512), np.float32), 0, ())
    # 128 blocks fill the chunk; the 129th finds it full, empties it, and 3 more follow.
    assert sink.overruns == 1 and sink.fill == 4 * 512 <= capacity
