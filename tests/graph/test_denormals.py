"""Denormals are flushed while the engine runs DSP, and only then.

A filter's decay after its input stops ends in subnormal numbers, which x86 CPUs process
through slow microcode assists; the engine sets FTZ/DAZ for each block (see
``aers_host._denormals``). These tests check what the flags do — the decaying state
reaches exact zero instead of subnormals — and that the caller's thread gets its own
floating-point mode back.
"""

from __future__ import annotations

import numpy as np
from graphs import LoadGraph, Registry

from aers_host._denormals import FlushDenormals, flush_supported
from aers_host.graph import Engine, build_plan

TINY = np.finfo(np.float64).tiny

TAIL = """
    nodes:
      imp:  {type: impulse, params: {channels: 2, level_db: 0}}
      low:  {type: eq, params: {bands: [{type: lowpass, freq: 200, q: 0.707}]}}
      comp: {type: compressor, params: {threshold_db: -30, ratio: 4, release_ms: 5}}
      out:  {type: output}
    connections:
      - {from: imp, to: low}
      - {from: low, to: comp}
      - {from: comp, to: out}
"""


def subnormal_product() -> float:
    """1e-310 under IEEE rules, 0.0 with FTZ set on this thread."""
    return float(np.float64(1e-300) * np.float64(1e-10))


def decayed_state(load_graph: LoadGraph, registry: Registry, blocks: int) -> np.ndarray:
    plan = build_plan(load_graph(TAIL, "tail.yaml", block_size=128), registry)
    engine = Engine(plan)
    for _ in range(blocks):
        engine.process_block(128)
    low, comp = plan.node("low").proc, plan.node("comp").proc
    state = np.concatenate([low._z.ravel(), comp._env.ravel()])  # type: ignore[attr-defined]
    plan.close()
    return state


def test_guard_flushes_inside_and_restores_after() -> None:
    guard = FlushDenormals()
    assert subnormal_product() > 0.0
    saved = guard.enter()
    inside = subnormal_product()
    guard.leave(saved)
    assert subnormal_product() > 0.0  # the thread's own mode is back
    assert guard.active == flush_supported()
    assert inside == (0.0 if guard.active else subnormal_product())


def test_a_decaying_tail_reaches_zero_without_passing_through_subnormals(
    load_graph: LoadGraph, registry: Registry
) -> None:
    # One impulse, then silence: the lowpass state decays ~0.97 per sample, past the
    # smallest normal float64 after ~23 000 samples (180 blocks); the compressor's
    # envelope decays with a 5 ms release.
    state = decayed_state(load_graph, registry, 400)
    assert subnormal_product() > 0.0  # rendering left the test's thread as it was
    if flush_supported():
        assert np.all((state == 0.0) | (np.abs(state) >= TINY)), state
        assert np.all(state == 0.0)  # and the tail has ended
    else:
        assert np.all(np.abs(state) < 1e-300)  # IEEE decay: tiny, subnormal or zero
