"""``bind_block`` (the engine's per-block call) equals ``process`` without events, bit for bit."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from aers_host import ParamEvent, ProcessorBase, default_registry
from aers_host._nodetype import CheckContext

REGISTRY = default_registry(entry_points=False, store=False)
NAMES = ["file", "sine", "noise", "impulse", "gain", "eq", "delay", "pan", "mix", "compressor",
         "limiter", "reverb", "meter"]
PARAMS: dict[str, dict[str, Any]] = {
    "eq": {"bands": [{"type": "peak", "freq": 1000, "gain_db": 3},
                     {"type": "highpass", "freq": 50}]},
    "delay": {"ms": 3, "feedback": 0.4, "mix": 0.5},
    "noise": {"color": "pink", "seed": 3},
    "impulse": {"at": 5, "every": 100},
    "gain": {"gain_db": -6},
    "compressor": {"threshold_db": -30, "knee_db": 6},
    "pan": {"pan": 0.3},
}
BLOCK = 128


@pytest.fixture
def ctx(tmp_path: Path) -> CheckContext:
    sound = np.random.default_rng(1).standard_normal((3000, 2)).astype(np.float32) * 0.3
    sf.write(tmp_path / "a.wav", sound, 48000, subtype="FLOAT")
    return CheckContext(48000, BLOCK, tmp_path, "n")


def _pair(name: str, ctx: CheckContext, channels: int) -> tuple[ProcessorBase, ProcessorBase, int]:
    node = REGISTRY[name]
    params = PARAMS.get(name, {"path": "a.wav", "loop": True} if name == "file" else {})
    n_in = 0 if node.role == "source" else channels
    n_out = node.output_channels(params, None if n_in == 0 else n_in, ctx)
    procs = []
    for _ in range(2):
        proc = node.create(params, ctx)
        assert isinstance(proc, ProcessorBase)
        proc.prepare(48000, BLOCK, n_in)
        procs.append(proc)
    return procs[0], procs[1], n_out


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("name", NAMES)
def test_bound_call_equals_process(name: str, channels: int, ctx: CheckContext) -> None:
    ref, bound, n_out = _pair(name, ctx, channels)
    n_in = ref.channels
    x = np.random.default_rng(0).standard_normal((n_in, 40 * BLOCK)).astype(np.float32)
    inp = np.zeros((n_in, BLOCK), np.float32)  # the engine's fixed views
    out = np.zeros((n_out, BLOCK), np.float32)
    call = bound.bind_block(inp, out)
    expected = np.zeros_like(out)
    for k in range(40):
        start = k * BLOCK
        inp[:] = x[:, start : start + BLOCK]
        if k == 20:  # a parameter change between blocks reaches the bound call
            for proc in (ref, bound):
                for spec in proc.PARAMS[:1]:
                    proc.set_param(spec.name, (spec.default + spec.max) / 2)
        ref.process(inp, expected, start, ())
        call(start)
        assert np.array_equal(out, expected), f"{name}: block {k}"
    assert json.dumps(ref.get_state()) == json.dumps(bound.get_state())


def test_bound_call_allocates_nothing(ctx: CheckContext) -> None:
    _, proc, n_out = _pair("reverb", ctx, 2)
    inp = np.ones((2, BLOCK), np.float32)
    out = np.zeros((n_out, BLOCK), np.float32)
    call = proc.bind_block(inp, out)
    call(0)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for k in range(1, 50):
            call(k * BLOCK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 1024


def test_event_split_spans_still_use_the_dispatcher(ctx: CheckContext) -> None:
    """Strided sub-blocks (an event mid-block) never reach a bound entry point."""
    ref, proc, n_out = _pair("eq", ctx, 2)
    inp = np.random.default_rng(2).standard_normal((2, BLOCK)).astype(np.float32)
    out_a = np.zeros((n_out, BLOCK), np.float32)
    out_b = np.zeros((n_out, BLOCK), np.float32)
    proc.bind_block(inp, out_b)
    event = [ParamEvent(50, "bands.0.gain_db", -3.0)]
    ref.process(inp, out_a, 0, event)
    proc.process(inp, out_b, 0, event)
    assert np.array_equal(out_a, out_b)


#: Built-ins whose block is one compiled call, so a lane program can run them.
COMPILED = {"noise", "gain", "eq", "delay", "compressor", "limiter"}


@pytest.mark.parametrize("name", NAMES)
def test_block_kernel_calls_start_with_the_engines_views(name: str, ctx: CheckContext) -> None:
    _, proc, n_out = _pair(name, ctx, 2)
    inp = np.zeros((proc.channels, BLOCK), np.float32)
    out = np.zeros((n_out, BLOCK), np.float32)
    block = proc.block_kernel(inp, out)
    assert (block is not None) == (name in COMPILED)
    if block is not None:  # a lane program screens args[1] and falls back to args[0]
        assert block.args[0] is inp and block.args[1] is out
        assert block.kernel.__name__.startswith("_")  # a module-level kernel, importable
