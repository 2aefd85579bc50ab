"""Lane programs: a worker's branches compiled into one GIL-free loop, bit for bit.

Every threaded render here is compared with the same config on one thread (the engine's
own Python loop), and each test first checks that the worker really ran a compiled
program (``Engine.compiled_workers``), or the comparison would prove nothing.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from graphs import Registry
from numba import njit

from aers_host.config import GraphConfig, load_config
from aers_host.errors import GraphError
from aers_host.graph import Engine, Plan, build_plan, render
from aers_host.graph._spin import monotonic_ns, signal_word, wait_for_word
from aers_host.plugin_api import BlockKernel, Buffer, ProcessorBase

SR = 48_000


def branches(count: int = 4, seconds: float = 0.3) -> dict[str, Any]:
    """``count`` sources, each through 5 compiled built-ins, summed by a bus."""
    nodes: dict[str, Any] = {"bus": {"type": "mix"}, "out": {"type": "output"}}
    connections = [{"from": "bus", "to": "out"}]
    for b in range(count):
        chain = {
            f"src{b}": {"type": "noise", "params": {"level_db": -6, "seed": b + 1}},
            f"eq{b}": {"type": "eq", "params": {"bands": [
                {"type": "peak", "freq": 700 + 300 * b, "gain_db": 6, "q": 1.0}]}},
            f"cp{b}": {"type": "compressor", "params": {"threshold_db": -30, "ratio": 4}},
            f"dl{b}": {"type": "delay", "params": {"samples": 300 + b, "feedback": 0.5}},
            f"lm{b}": {"type": "limiter", "params": {"threshold_db": -6}},
            f"g{b}": {"type": "gain", "params": {"gain_db": -1 - b}},
        }  # fmt: skip
        nodes.update(chain)
        names = [*chain, "bus"]
        connections += [{"from": a, "to": z} for a, z in itertools.pairwise(names)]
    return {"sample_rate": SR, "duration": seconds, "nodes": nodes, "connections": connections}


def load(registry: Registry, tmp_path: Path, block: int, **extra: Any) -> GraphConfig:
    path = tmp_path / "branches.yaml"
    path.write_text(yaml.safe_dump({**branches(**extra), "block_size": block}), "utf-8")
    return load_config(path, registry=registry)


def run(plan: Plan, threads: int, blocks: int | None = None) -> tuple[np.ndarray, int]:
    """Process the plan block by block; the bus output and the engine's compiled workers."""
    engine = Engine(plan, threads=threads)
    compiled = engine.compiled_workers
    total = round(plan.config.duration * plan.sample_rate)
    count = blocks if blocks is not None else -(-total // plan.block_size)
    out = []
    try:
        for k in range(count):
            frames = min(plan.block_size, total - k * plan.block_size)
            engine.process_block(frames)
            out.append(plan.node("bus").out_buf[:, :frames].copy())
    finally:
        engine.close()
    return np.concatenate(out, axis=1), compiled


@pytest.mark.parametrize("block", [100, 257, 1024])
def test_a_compiled_worker_renders_bit_identical_to_one_thread(
    registry: Registry, tmp_path: Path, block: int
) -> None:
    cfg = load(registry, tmp_path, block)
    single = render(cfg, registry, out_dir=None, capture=True, threads=1)
    plan = build_plan(cfg, registry)
    engine = Engine(plan, threads=2)
    assert engine.compiled_workers == 1  # the worker's branches run as a program
    engine.close()
    plan.close()
    double = render(cfg, registry, out_dir=None, capture=True, threads=2)
    assert (single.threads, double.threads) == (1, 2)
    assert np.abs(single.captured["out"]).max() > 0.05  # real audio
    # 257 leaves a shorter last block, which runs every lane on the calling thread
    assert np.array_equal(single.captured["out"], double.captured["out"])


def test_node_times_come_from_the_worker_too(registry: Registry, tmp_path: Path) -> None:
    from aers_host.graph import BlockTimings

    plan = build_plan(load(registry, tmp_path, 512), registry)
    engine = Engine(plan, threads=2, timings=BlockTimings.allocate(8, len(plan.nodes)))
    assert engine.compiled_workers == 1
    for _ in range(8):
        engine.process_block(512)
    engine.close()
    timings = engine.timings
    assert timings is not None
    worker_nodes = engine.branch_schedule.levels[0][1]
    assert worker_nodes and (timings.node_ns[:, list(worker_nodes)] > 0).all()
    assert (timings.block_ns > 0).all()
    plan.close()


@njit(nogil=True, cache=False)
def _poison(inp: Buffer, out: Buffer, every: np.ndarray, start: int) -> None:
    """Copy, but make every ``every[0]``-th block (by start) NaN; raise past ``every[1]``."""
    if every[1] and start >= every[1]:
        raise ValueError("poison kernel gave up")
    frames = out.shape[1]
    for c in range(out.shape[0]):
        for n in range(frames):
            out[c, n] = inp[c, n]
    if (start // frames) % every[0] == 1:
        out[0, 0] = np.nan


class Poison(ProcessorBase):
    """A compiled test node: NaN blocks now and then, or an exception from the kernel."""

    def __init__(self, every: int, fail_at: int = 0) -> None:
        super().__init__()
        self._every = np.array([every, fail_at], np.int64)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        _poison(inp, out, self._every, start)

    def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
        return BlockKernel(_poison, (inp, out, self._every))


def worker_gains_replaced(
    registry: Registry, tmp_path: Path, make: Callable[[], ProcessorBase]
) -> tuple[Plan, list[str]]:
    """The branches plan with the gain of every worker-lane branch replaced by ``make()``."""
    plan = build_plan(load(registry, tmp_path, 256), registry)
    probe = Engine(plan, threads=2)
    worker = {plan.nodes[i].id for i in probe.branch_schedule.levels[0][1]}
    probe.close()
    replaced = sorted(n for n in worker if n.startswith("g"))
    for node_id in replaced:
        node = plan.node(node_id)
        node.proc = make()
        node.proc.prepare(SR, plan.block_size, node.channels_in)
    return plan, replaced


def poisoned_plan(
    registry: Registry, tmp_path: Path, every: int, fail_at: int = 0
) -> tuple[Plan, list[str]]:
    """The branches plan with the gain of every worker-lane branch replaced by Poison."""
    return worker_gains_replaced(registry, tmp_path, lambda: Poison(every, fail_at))


def test_nan_blocks_in_a_worker_are_replaced_and_counted_as_on_one_thread(
    registry: Registry, tmp_path: Path
) -> None:
    plan1, poisoned = poisoned_plan(registry, tmp_path, every=3)
    plan2, _ = poisoned_plan(registry, tmp_path, every=3)
    single, _ = run(plan1, 1)
    double, compiled = run(plan2, 2)
    assert compiled == 1 and poisoned
    assert np.isfinite(double).all()
    assert np.array_equal(single, double)
    for node_id in poisoned:
        one, two = plan1.node(node_id), plan2.node(node_id)
        assert one.nonfinite_blocks > 0
        assert two.nonfinite_blocks == one.nonfinite_blocks
        assert two.substituted.to_dict() == one.substituted.to_dict()
    plan1.close()
    plan2.close()


def test_a_kernel_that_raises_in_a_worker_is_an_error_naming_it(
    registry: Registry, tmp_path: Path
) -> None:
    plan, _ = poisoned_plan(registry, tmp_path, every=10**6, fail_at=4 * 256)
    with pytest.raises(GraphError, match="lane worker stopped: poison kernel gave up"):
        run(plan, 2, blocks=10)
    plan.close()


def test_a_node_leaving_the_fast_path_moves_the_worker_to_python_lanes(
    registry: Registry, tmp_path: Path
) -> None:
    cfg = load(registry, tmp_path, 256)
    outputs = []
    for threads in (2, 1):
        plan = build_plan(cfg, registry)
        engine = Engine(plan, threads=threads)
        if threads == 2:  # the last gain of the worker's lane
            worker = plan.nodes[engine.branch_schedule.levels[0][1][-1]].id
            assert worker.startswith("g") and engine.compiled_workers == 1
        for k in range(12):
            if k == 5:  # a parameter change queued for a node of the worker's lane
                engine.schedule(worker, "gain_db", -12.0, at=5 * 256 + 100)
            engine.process_block(256)
            outputs.append(plan.node("bus").out_buf.copy())
            if threads == 2 and k == 5:
                assert engine.compiled_workers == 0 and engine.threads == 2
        engine.close()
        plan.close()
    assert np.array_equal(np.concatenate(outputs[:12], 1), np.concatenate(outputs[12:], 1))


def test_closing_the_engine_stops_the_program_thread(registry: Registry, tmp_path: Path) -> None:
    plan = build_plan(load(registry, tmp_path, 512), registry)
    before = set(threading.enumerate())
    engine = Engine(plan, threads=2)
    started = [t for t in threading.enumerate() if t not in before]
    assert engine.compiled_workers == 1 and len(started) == 1
    engine.process_block(512)
    engine.close()
    engine.close()  # idempotent
    assert not started[0].is_alive()
    plan.close()


_RENDER = """
import sys
from aers_host import default_registry
from aers_host.config import load_config
from aers_host.graph import render
from aers_host.graph import _program
registry = default_registry(entry_points=False, store=False)
result = render(load_config(sys.argv[1], registry=registry), registry, out_dir=None,
                capture=True, threads=2)
hits = sum(sum(p.stats.cache_hits.values()) for p in _program._compiled.values())
print(hits, float(abs(result.captured["out"]).sum()))
"""


@pytest.mark.slow
@pytest.mark.security
def test_programs_are_cached_on_disk_and_a_tampered_cache_file_is_never_run(
    tmp_path: Path,
) -> None:
    config = tmp_path / "branches.yaml"
    config.write_text(yaml.safe_dump({**branches(2, 0.05), "block_size": 512}), "utf-8")
    env = {**os.environ, "AERS_HOME": str(tmp_path / "home")}

    def render_in_new_process() -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, str(config)],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        hits, total = done.stdout.split()
        return int(hits), total

    first_hits, first = render_in_new_process()
    lanes = tmp_path / "home" / "cache" / "lanes"
    modules = sorted(lanes.glob("aers_lane_*.py"))
    assert len(modules) == 2  # the worker's program and the calling thread's lanes
    assert first_hits == 0  # compiled, and written for next time
    assert (render_in_new_process()) == (2, first)  # both loaded, not compiled
    module = modules[0]
    generated = module.read_text("utf-8")
    module.write_text("raise SystemExit('tampered cache file ran')\n", "utf-8")
    _, third = render_in_new_process()
    assert third == first
    assert module.read_text("utf-8") == generated  # rewritten before import
    # a folder others may write is not used at all: compiled from memory instead
    planted = "raise SystemExit('planted file ran')\n"
    module.write_text(planted, "utf-8")
    lanes.chmod(0o777)
    assert render_in_new_process() == (0, first)
    assert module.read_text("utf-8") == planted


@njit(cache=False)
def _now() -> int:
    return monotonic_ns()  # type: ignore[no-any-return]


def test_wait_for_word_sees_another_threads_store_and_gives_up_on_time() -> None:
    words = np.zeros(2, np.int64)  # the word, and its sleeper flag
    wait_for_word(words, 1, 0, 0, 1)  # compiled before the clock starts
    t0 = _now()
    assert not wait_for_word(words, 0, 1, 2_000_000, 1)
    waited = _now() - t0
    assert waited >= 2_000_000
    assert words[1] == 0  # not left flagged as sleeping
    # a signal wakes a sleeping waiter; a plain store is seen at its next look
    for signal in (True, False):
        target = int(words[0]) + 1
        timer = threading.Timer(  # long after the spin: the waiter sleeps by then
            0.05, signal_word if signal else words.__setitem__,
            (words, 0, target, 1) if signal else (0, target),
        )  # fmt: skip
        timer.start()
        assert wait_for_word(words, 0, target, 10_000_000_000, 1)
        timer.join()
        assert words[0] == target and words[1] == 0


def test_the_monotonic_clock_is_perf_counters() -> None:
    import time

    _now()
    before = _now()
    between = time.perf_counter_ns()
    after = _now()
    assert before <= between <= after
    assert after - before < 1_000_000_000


def test_generated_source_is_one_module_that_imports_its_kernels() -> None:
    from aers_host.graph._program import _source

    shape = (((3, True, True),), ((2, False, False),))
    for threaded in (True, False):
        text = _source(shape, [("m.a", "k"), ("m.b", "j")], threaded)
        compile(text, "<test>", "exec")
        assert "from m.a import k as k0" in text and "from m.b import j as k1" in text
        assert text.count("replace_nonfinite(a0_1, a0_0, True)") == 1
        assert "a1_1, a1_0" not in text  # unscreened step: no fallback code
        assert ("wait_for_word(words, GO" in text) == threaded


def test_a_live_graph_runs_programs_and_keeps_them_across_an_edit(
    registry: Registry, tmp_path: Path
) -> None:
    from aers_host.live import LiveGraph

    outputs, compiled = {}, {}
    for threads in (1, 2):
        path = tmp_path / f"live{threads}.yaml"
        data = {**branches(4, 1.0), "block_size": 256, "threads": threads}
        path.write_text(yaml.safe_dump(data), "utf-8")
        live = LiveGraph(load_config(path, registry=registry), registry, crossfade_ms=2)
        seen = [live.engine.compiled_workers]
        blocks = []
        for k in range(60):
            if k == 10:  # an edit outside the branches: same lanes, a new engine
                live.submit({"op": "set_gain", "from": "g1", "to": "bus", "gain_db": -9})
            live.process_block(256)
            live.collect()
            seen.append(live.engine.compiled_workers)
            blocks.append(live.plan.node("bus").out_buf.copy())
        live.close()
        outputs[threads], compiled[threads] = np.concatenate(blocks, axis=1), seen
    assert np.array_equal(outputs[1], outputs[2])
    assert set(compiled[1]) == {0}
    assert compiled[2][0] == 1 and compiled[2][-1] == 1  # before and after the edit
    assert not [t for t in threading.enumerate() if t.name.startswith("aers-lane-")]


def test_a_kernel_from_a_module_without_a_file_is_never_cached_on_disk(
    registry: Registry, tmp_path: Path, aers_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's kernel: nothing on disk names its code, so its program stays in memory."""
    notebook = types.ModuleType("aers_test_notebook")
    exec(
        "from numba import njit\n"
        "@njit(nogil=True, cache=False)\n"
        "def halve(inp, out, box, start):\n"
        "    for c in range(out.shape[0]):\n"
        "        for n in range(out.shape[1]):\n"
        "            out[c, n] = inp[c, n] * box[0]\n",
        notebook.__dict__,
    )
    monkeypatch.setitem(sys.modules, notebook.__name__, notebook)

    class Halve(ProcessorBase):
        def __init__(self) -> None:
            super().__init__()
            self._box = np.array([0.5], np.float32)

        def render(self, inp: Buffer, out: Buffer, start: int) -> None:
            notebook.halve(inp, out, self._box, start)

        def block_kernel(self, inp: Buffer, out: Buffer) -> BlockKernel:
            return BlockKernel(notebook.halve, (inp, out, self._box))

    single, _ = run(worker_gains_replaced(registry, tmp_path, Halve)[0], 1)
    double, compiled = run(worker_gains_replaced(registry, tmp_path, Halve)[0], 2)
    assert compiled == 1
    assert np.array_equal(single, double)
    lanes = aers_home / "cache" / "lanes"
    written = [p.read_text("utf-8") for p in lanes.glob("*.py")] if lanes.is_dir() else []
    assert not [text for text in written if "aers_test_notebook" in text]


def test_a_share_too_big_to_compile_quickly_stays_on_python_lanes(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aers_host.graph import _program

    monkeypatch.setattr(_program, "MAX_PROGRAM_NODES", 5)  # a worker's share here: 12
    plan = build_plan(load(registry, tmp_path, 256), registry)
    engine = Engine(plan, threads=2)
    assert engine.compiled_workers == 0 and engine.threads == 2
    engine.close()
    plan.close()
    cfg = load(registry, tmp_path, 256)
    single = render(cfg, registry, out_dir=None, capture=True, threads=1)
    double = render(cfg, registry, out_dir=None, capture=True, threads=2)
    assert np.array_equal(single.captured["out"], double.captured["out"])


def test_a_paced_loop_wakes_the_workers_before_the_block_is_due() -> None:
    import time

    from aers_host._timing import sleep_until

    calls: list[float] = []
    due = time.perf_counter() + 0.01
    sleep_until(due, lambda: calls.append(time.perf_counter()))
    assert len(calls) == 1 and calls[0] <= time.perf_counter()
    assert time.perf_counter() >= due
    sleep_until(time.perf_counter() - 1.0, lambda: calls.append(0.0))  # already due
    assert len(calls) == 2


def test_prewake_between_blocks_changes_no_sample(registry: Registry, tmp_path: Path) -> None:
    """Nudged while asleep (a pause between blocks, as in real time) or while spinning."""
    import time

    cfg = load(registry, tmp_path, 256)
    single, _ = run(build_plan(cfg, registry), 1, blocks=24)
    plan = build_plan(cfg, registry)
    engine = Engine(plan, threads=2)
    assert engine.compiled_workers == 1
    blocks = []
    for k in range(24):
        if k % 2:
            time.sleep(0.002)  # past the worker's spin: it sleeps on its futex now
        engine.prewake()
        engine.process_block(256)
        blocks.append(plan.node("bus").out_buf.copy())
    engine.close()
    plan.close()
    assert np.array_equal(single, np.concatenate(blocks, axis=1))
