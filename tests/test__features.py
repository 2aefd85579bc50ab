"""Optional processor features are declared (ReportsHealth, WaitsElsewhere, ...), never probed."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np

import aers_host
from aers_host._features import (
    HEALTHY,
    FollowsTiming,
    HoldsResources,
    KnowsLength,
    LogsSubstitutions,
    NodeHealth,
    RendersChanges,
    ReportsHealth,
    ReportsValues,
    RunsInWorker,
    TakesSidechain,
    WaitsElsewhere,
    close_if_held,
    health_of,
    worker_pid,
)
from aers_host.dsp import Compressor, Delay, FileSource, Gain, Limiter, Pan
from aers_host.events._nodes import Duck
from aers_host.lv2._loader import Lv2WorkerProcessor
from aers_host.lv2._processor import Lv2Processor
from aers_host.native._processor import NativeProcessor
from aers_host.remote._client import RemoteProcessor
from aers_host.sandbox._host import SandboxedProcessor
from aers_host.sandbox._inprocess import InProcessProcessor
from aers_host.sandbox._refused import RefusedProcessor

PACKAGE = Path(aers_host.__file__).parent
#: Attribute names the feature protocols replaced; probing them by name is what they forbid.
FEATURES = {f.name for f in dataclasses.fields(NodeHealth)} | {
    "remote_stats", "worker_pid", "pid", "close", "set_timing", "substitutions", "values",
    "link", "url", "waits_on", "CHANGE_PARAMS", "process_changes", "length_frames", "loop",
    "set_sidechain",
}  # fmt: skip


def test_every_processor_that_can_fail_declares_it() -> None:
    for cls in (SandboxedProcessor, Lv2WorkerProcessor, InProcessProcessor, RefusedProcessor,
                RemoteProcessor):  # fmt: skip
        assert issubclass(cls, ReportsHealth), cls
    for cls in (SandboxedProcessor, Lv2WorkerProcessor):  # the worker-hosted kinds
        assert RunsInWorker in cls.__mro__, cls
    assert RunsInWorker not in InProcessProcessor.__mro__
    for cls in (SandboxedProcessor, InProcessProcessor, RefusedProcessor, RemoteProcessor,
                NativeProcessor, Lv2Processor):  # fmt: skip
        assert issubclass(cls, HoldsResources), cls
    for cls in (SandboxedProcessor, InProcessProcessor, RemoteProcessor):  # deadlines differ
        assert issubclass(cls, FollowsTiming), cls
    for cls in (SandboxedProcessor, InProcessProcessor, RefusedProcessor, RemoteProcessor):
        assert LogsSubstitutions in cls.__mro__, cls
    for cls in (SandboxedProcessor, InProcessProcessor, RefusedProcessor, NativeProcessor):
        assert ReportsValues in cls.__mro__, cls  # the dashboard shows the running values


def test_built_ins_declare_what_the_planner_resolves_once() -> None:
    for cls in (Gain, Pan):  # dense automation of gain_db / pan in one kernel call
        assert RendersChanges in cls.__mro__ and cls.CHANGE_PARAMS, cls
    assert KnowsLength in FileSource.__mro__  # a render without a duration lasts its length
    for cls in (Compressor, Duck):  # port: sidechain
        assert TakesSidechain in cls.__mro__, cls
    assert TakesSidechain not in Limiter.__mro__ and KnowsLength not in Delay.__mro__
    for cls in (SandboxedProcessor, Lv2WorkerProcessor, RemoteProcessor):  # off the GIL
        assert WaitsElsewhere in cls.__mro__, cls
    for cls in (InProcessProcessor, RefusedProcessor, NativeProcessor, Gain):
        assert WaitsElsewhere not in cls.__mro__, cls


def test_a_remote_node_waits_on_a_connection_of_its_own() -> None:
    proc = RemoteProcessor("ws://127.0.0.1:9", "t", [], label="far")
    assert isinstance(proc, WaitsElsewhere) and proc.waits_on is proc  # never shared


def test_a_refused_plugin_reports_its_failure_and_counts_its_fallback_blocks() -> None:
    proc = RefusedProcessor("fx", "plugin 'p.py': refused", fallback="silence", params={"g": 0.5})
    assert isinstance(proc, ReportsValues) and proc.values == {"g": 0.5}
    before = health_of(proc)
    assert before.failed and before.failure_reason == "plugin 'p.py': refused"
    assert before.fallback_blocks == 0
    out = np.ones((1, 64), np.float32)
    for start in (0, 64):
        proc.process(np.ones((1, 64), np.float32), out, start, ())
    assert health_of(proc).fallback_blocks == 2 and not out.any()
    assert isinstance(proc, LogsSubstitutions) and proc.substitutions.blocks == 2
    assert worker_pid(proc) is None  # nothing runs, so no worker
    close_if_held(proc)
    assert proc.closed


def test_a_processor_that_reports_nothing_is_healthy() -> None:
    gain = Gain()
    assert not isinstance(gain, ReportsHealth)
    assert health_of(gain) is HEALTHY and health_of(gain) == NodeHealth()
    assert worker_pid(gain) is None
    assert not isinstance(gain, HoldsResources | FollowsTiming | LogsSubstitutions)
    close_if_held(gain)  # nothing to release, nothing raised


def test_no_module_probes_a_feature_by_name() -> None:
    """``getattr(proc, "failed", …)`` and friends bypass the protocols and drift apart."""
    probes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr"}
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in FEATURES
            ):
                probes.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.args[1].value}")
    assert probes == []
