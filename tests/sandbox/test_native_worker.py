"""AERS-ABI native plugins in fenced workers (``isolation: per-instance | per-plugin | shared``).

The probe plugin (gain + a 64-sample delay, built from C++ here) is rendered in-process and
in a worker: the outputs must be bit-identical, automation included, because both run the
same C ABI on the same bytes. A plugin that segfaults after a few blocks must cost only its
own node: the engine goes on, the node is named, and no process or segment is left over.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from native.conftest import CTX, _build_one, probe_source, verified

from aers_host import ParamEvent
from aers_host.errors import HashMismatchError
from aers_host.native import NativeProcessor, load_native_plugin
from aers_host.plugins import VerifiedPlugin
from aers_host.sandbox import SandboxedProcessor

from ._graphs import chain_config, planned, step, with_plugins, worker_pids
from ._helpers import FAST, shm_segments_of

GAIN = ({"name": "gain", "default": 1.0, "min": 0.0, "max": 2.0},)
PROCESS_OPEN = "bool AERS_ABI process(void *s, const aers_process_t *pr) {"
#: Segfaults on its 5th block in every worker incarnation (the counter is per process).
CRASH_AFTER = 5


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, VerifiedPlugin]:
    root = tmp_path_factory.mktemp("native-worker")
    crashing = probe_source().replace(
        PROCESS_OPEN,
        PROCESS_OPEN + f"\n  static int blocks = 0;\n  if (++blocks == {CRASH_AFTER}) "
        "*(volatile int *)nullptr = 0;",
    )
    ok = verified(_build_one(root, "probe_ok", probe_source()), name="probe", params=GAIN)
    bad = verified(_build_one(root, "probe_crash", crashing), name="crasher", params=GAIN)
    # Never loaded in-process by any test, so the host's own maps must never show it.
    fenced = verified(_build_one(root, "probe_fenced", probe_source(latency=32)), name="fenced")
    return {"ok": ok, "crash": bad, "fenced": fenced}


def _node(plugin: VerifiedPlugin, isolation: str, **params: float) -> object:
    ctx = dataclasses.replace(CTX, node_options={"isolation": isolation, **FAST})
    return load_native_plugin(plugin, params, ctx)


def _render(proc: object, x: np.ndarray, block: int) -> np.ndarray:
    """``x`` through ``proc`` in blocks, with a gain change at sample 700 (mid-block)."""
    y = np.zeros_like(x)
    for pos in range(0, x.shape[1], block):
        n = min(block, x.shape[1] - pos)
        inp = np.ascontiguousarray(x[:, pos : pos + n])
        out = np.zeros_like(inp)
        events = [ParamEvent(700 - pos, "gain", 0.25)] if pos <= 700 < pos + n else []
        proc.process(inp, out, pos, events)  # type: ignore[attr-defined]
        y[:, pos : pos + n] = out
    return y


@pytest.fixture
def own_workers() -> Iterator[set[int]]:
    """Worker pids that appear during the test (others' tests may run workers too)."""
    before = worker_pids()
    seen: set[int] = set()
    yield seen
    seen |= worker_pids() - before


def test_worker_output_is_bit_identical_to_in_process(probes: dict[str, VerifiedPlugin]):
    x = np.random.default_rng(3).standard_normal((2, 3000)).astype(np.float32)
    inproc = _node(probes["ok"], "in-process", gain=0.5)
    assert isinstance(inproc, NativeProcessor)
    inproc.prepare(48_000, 512, 2)
    expected = _render(inproc, x, 512)
    inproc.close()
    for block in (512, 128):
        worker = _node(probes["ok"], "per-instance", gain=0.5)
        assert isinstance(worker, SandboxedProcessor)
        worker.prepare(48_000, 512, 2)
        try:
            assert worker.latency_samples == 64  # measured by the worker, adopted by the host
            assert not worker.failed, worker.failure_reason
            np.testing.assert_array_equal(_render(worker, x, block), expected)
        finally:
            worker.close()
    # The reference itself is right: a 64-sample delay, gain 0.5 then 0.25 from sample 700.
    np.testing.assert_array_equal(expected[:, 64:700], x[:, : 700 - 64] * np.float32(0.5))


@pytest.mark.security
def test_worker_applies_every_fence_and_the_host_never_maps_the_code(
    probes: dict[str, VerifiedPlugin],
):
    worker = _node(probes["fenced"], "per-instance")
    worker.prepare(48_000, 256, 1)  # type: ignore[attr-defined]
    try:
        fences = worker.fences  # type: ignore[attr-defined]
        assert all(v.startswith("applied") for v in fences.values()), fences
        assert "read-only /usr/lib" in fences["landlock"]  # system libraries, nothing else
        pid = worker.worker_pid  # type: ignore[attr-defined]
        assert worker.latency_samples == 32  # type: ignore[attr-defined]
        assert "memfd:aers-fenced" in Path(f"/proc/{pid}/maps").read_text()
        assert "memfd:aers-fenced" not in Path("/proc/self/maps").read_text()
    finally:
        worker.close()  # type: ignore[attr-defined]


@pytest.mark.security
def test_tampered_bytes_are_refused_before_any_worker_starts(probes: dict[str, VerifiedPlugin]):
    plugin = probes["ok"]
    lib = plugin.entry_file
    forged = dataclasses.replace(plugin, files={lib: plugin.files[lib] + b"\0"})
    before = worker_pids()
    with pytest.raises(HashMismatchError, match="does not match its manifest sha256"):
        _node(forged, "per-instance")
    assert worker_pids() == before


@pytest.mark.slow
def test_segfaulting_plugin_is_contained_named_and_leaves_nothing(
    probes: dict[str, VerifiedPlugin], own_workers: set[int]
):
    reg = with_plugins(probes["crash"], probes["ok"])
    config = chain_config(["crasher", "probe"], reg, isolation="per-instance", deadline_ms=100.0)
    with planned(config, reg) as (plan, engine):
        own_workers |= worker_pids()
        crasher, neighbour = (plan.nodes[plan.index[n]].proc for n in ("p1", "p2"))
        assert isinstance(crasher, SandboxedProcessor)
        for _ in range(3000):  # until a replacement worker was adopted (a liveness bound)
            step(plan, engine)
            own_workers |= worker_pids()
            if crasher.restarts:
                break
            time.sleep(0.002)
        assert crasher.restarts >= 1
        assert "worker died while running p1" in crasher.failure_reason
        assert crasher.fallback_blocks > 0
        assert isinstance(neighbour, SandboxedProcessor) and not neighbour.failed
        assert neighbour.fallback_blocks == 0  # its own worker never noticed
    live = {pid for pid in own_workers if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"}  # fmt: skip
    assert live == set()
    assert shm_segments_of(os.getpid()) == []
