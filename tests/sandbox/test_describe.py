"""Describing a graph (``aers graph``): Python plugins start no worker, latencies stay right.

A Python stage's latency is the literal in its class body, read from the verified source;
a plan built only to be described must show exactly the latencies and compensation a
runnable plan (what a render uses) gets, and a class whose run-time latency differs from
its declaration is refused when a worker does start it.
"""

from __future__ import annotations

import os

import pytest

from aers_host.graph import build_plan, describe

from ._graphs import chain_config, planned, with_plugins, worker_pids
from ._helpers import make, plugin, run, shm_segments_of, signal_block

LATE = """
class P:
    latency_samples = 64
    def process(self, inp, out, start, events):
        out[:] = inp
"""
#: Declares nothing in its own body (so 0), but runs with the base's 64.
INHERITED = """
class Base:
    latency_samples = 64
class P(Base):
    def process(self, inp, out, start, events):
        out[:] = inp
"""


@pytest.mark.parametrize("isolation", ["per-instance", "per-plugin", "shared"])
def test_describing_python_plugins_starts_no_worker_and_shows_the_planned_latency(
    isolation: str,
) -> None:
    reg = with_plugins(plugin(LATE, name="late"))
    # src → p1 → p2 → out, and src → out directly: the direct path waits for both plugins.
    config = chain_config(["late", "late"], reg, extra=(("src", "out"),), isolation=isolation)
    before, segments = worker_pids(), set(shm_segments_of(os.getpid()))
    described = build_plan(config, reg, describe_only=True)
    try:
        assert worker_pids() == before  # no plugin code ran, no process started
        shown = {row["id"]: row for row in describe(described)}
    finally:
        described.close()
    assert set(shm_segments_of(os.getpid())) == segments
    assert (shown["p1"]["latency_samples"], shown["p2"]["path_latency_samples"]) == (64, 128)
    assert shown["out"]["compensation"] == {"src": 128}
    with planned(config, reg) as (plan, _engine):  # the plan a render runs, workers started
        assert worker_pids() - before
        assert {row["id"]: row for row in describe(plan)} == shown


def test_a_class_running_with_another_latency_than_it_declares_is_refused() -> None:
    before = worker_pids()
    proc = make(INHERITED)
    proc.prepare(48_000, 256, 2)
    try:
        assert proc.failed
        assert "has latency_samples = 64 when run, but its class body declares 0" in (
            proc.failure_reason
        )
        out = run(proc, 1)[0]  # its fallback (bypass), never the plugin's audio
        assert (out == signal_block(0)).all()
    finally:
        proc.close()
    assert worker_pids() == before  # its worker hosted no one else: stopped
