"""Offline and real-time timing (architecture.md, Timing modes): waits, hang limits, no silent fallback."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry
from sandbox._graphs import chain_config, own_segments, with_plugins, worker_pids
from sandbox._helpers import plugin, process_body

from aers_host import FallbackAudioError, Graph
from aers_host import render as render_api
from aers_host._timing import OFFLINE, REALTIME, SubstitutionLog, Timing
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.graph import fallback_lines, render, render_metrics

#: Writes ``inp * 0.5`` after burning CPU on every block: far past a 0.01 ms deadline.
SLOW = """
import numpy as np
class P:
    def process(self, inp, out, start, events):
        x = 0
        for i in range(20000):
            x = x + 1
        out[:] = inp * 0.5
"""
#: Spins for good from sample 4096 on.
HANG = process_body("if start >= 4096:\n    while True:\n        pass")
#: Spins for seconds on the block at sample 2048 (long enough to be killed during it).
STALL = process_body("if start == 2048:\n    x = 0\n    while x < 30000000:\n        x = x + 1")


def test_a_slow_plugin_never_changes_offline_output(registry: Registry) -> None:
    reg = with_plugins(plugin(SLOW, name="slow"))
    config = chain_config(["slow"], reg, block=64, deadline_ms=0.01)
    result = render(config, reg, out_dir=None, capture=True)
    metrics = render_metrics(result)
    proc = result.plan.node("p1").proc
    assert result.plan.timing is OFFLINE and metrics["timing_mode"] == "offline"
    assert proc.xruns == proc.fallback_blocks == 0 and metrics["substituted_samples"] == 0
    source = render(
        chain_config([], registry, block=64), registry, out_dir=None, capture=True
    ).captured["out"]
    np.testing.assert_array_equal(result.captured["out"], source * np.float32(0.5))


def test_the_same_plugin_in_real_time_misses_its_deadline_and_says_which_samples() -> None:
    reg = with_plugins(plugin(SLOW, name="slow"))
    config = chain_config(["slow"], reg, block=64, deadline_ms=0.01)
    result = render(config, reg, out_dir=None, capture=True, timing=REALTIME)
    proc = result.plan.node("p1").proc
    assert proc.xruns > 0
    sub = result.substituted["p1"]
    assert sub["blocks"] == proc.fallback_blocks and sub["samples"] == 64 * sub["blocks"]


def test_a_plugin_that_hangs_for_good_fails_after_one_retry_and_names_the_samples() -> None:
    reg = with_plugins(plugin(HANG, name="hang"))
    config = chain_config(["hang"], reg, block=512, hang_limit_s=1.5)  # a busy machine: >0.3 s
    pids_before, segments_before = worker_pids(), own_segments()
    began = time.process_time()
    result = render(config, reg, out_dir=None, capture=True)
    proc = result.plan.node("p1").proc
    assert proc.failed and "hang in process at sample 4096" in proc.failure_reason
    assert "again on a fresh worker" in proc.failure_reason and proc.restarts == 1
    sub = result.substituted["p1"]
    assert sub["first_sample"] == 4096 and sub["ranges"] == [[4096, 48_000]]
    audio = result.captured["out"]
    assert audio.shape == (2, 48_000) and np.abs(audio[:, :4096]).max() > 0  # nothing lost
    assert worker_pids() <= pids_before and own_segments() <= segments_before
    assert time.process_time() - began < 30  # the host waited, it did not spin


def test_render_api_raises_naming_the_node_unless_fallback_is_allowed() -> None:
    reg = with_plugins(plugin(HANG, name="hang"))
    config = chain_config(["hang"], reg, block=512, hang_limit_s=1.5)
    graph = Graph.from_dict(config.data, registry=reg)
    with pytest.raises(FallbackAudioError) as caught:
        render_api(graph, 1.0)
    (line,) = caught.value.lines
    assert line.startswith("node 'p1': failed after 1 restart (hang in process at sample 4096")
    assert "43904 samples from sample 4096" in line
    audio = render_api(graph, 1.0, allow_fallback=True)
    assert audio["out"].shape == (2, 48_000)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_killed_mid_block_is_restarted_and_the_block_retried_exactly() -> None:
    reg = with_plugins(plugin(STALL, name="stall"))
    config = chain_config(["stall"], reg, block=512, hang_limit_s=120)
    reference = render(config, reg, out_dir=None, capture=True).captured["out"]
    killed: list[int] = []

    def kill_during_the_stall() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for pid in worker_pids():
                if cpu_seconds(pid) > 0.5:  # start-up takes less: it is in the long block
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_during_the_stall)
    watcher.start()
    result = render(config, reg, out_dir=None, capture=True)
    watcher.join()
    proc = result.plan.node("p1").proc
    assert killed and proc.restarts == 1 and not proc.failed, proc.failure_reason
    assert result.substituted == {}
    np.testing.assert_array_equal(result.captured["out"], reference)


def test_overflow_at_a_built_in_is_replaced_where_it_appears_and_fails_the_render(
    tmp_path: Path, run_cli: Any
) -> None:
    huge = np.full((4800, 2), 3e38, np.float32)
    huge[:2400] = 0.25
    sf.write(tmp_path / "huge.wav", huge, 48_000, subtype="FLOAT")
    (tmp_path / "g.yaml").write_text(
        "version: 1\nduration: 0.1\nblock_size: 480\nnodes:\n"
        "  src: {type: file, params: {path: huge.wav}}\n"
        "  g: {type: gain, params: {gain_db: 12, smoothing_ms: 0}}\n"
        "  out: {type: output, params: {subtype: FLOAT}}\n"
        "connections:\n  - {from: src, to: g}\n  - {from: g, to: out}\n"
    )
    result = run_cli("render", tmp_path / "g.yaml", "--out-dir", tmp_path / "out")
    assert result.code == 1
    assert "node 'g': 5 blocks of NaN/Inf replaced; its fallback played for 0.05 s" in result.err
    assert "(2400 samples from sample 2400)" in result.err
    audio, _ = sf.read(tmp_path / "out" / "out.wav", dtype="float32")
    assert np.isfinite(audio).all() and np.abs(audio[:2400]).max() > 0.9  # 0.25 × 4
    import json

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["nodes"]["g"]["nonfinite_blocks"] == 5
    assert metrics["nodes"]["g"]["substituted"]["ranges"] == [[2400, 4800]]
    assert metrics["substituted_nodes"] == ["g"] and metrics["substituted_samples"] == 2400
    allowed = run_cli(
        "render", tmp_path / "g.yaml", "--out-dir", tmp_path / "o2", "--allow-fallback"
    )
    assert allowed.code == 0 and "warning: node 'g'" in allowed.err


def test_hang_limit_and_allow_fallback_are_in_render_help(run_cli: Any) -> None:
    text = " ".join(run_cli("render", "--help").out.split())
    assert "--hang-limit" in text and "--allow-fallback" in text and "Offline timing" in text


def test_timing_refuses_a_hang_limit_out_of_range() -> None:
    with pytest.raises(ValueError, match="hang limit"):
        Timing(realtime=False, hang_limit_s=0.0)
    assert Timing(realtime=False, hang_limit_s=2.0).hang_limit(None) == 2.0
    assert OFFLINE.hang_limit(None) == 10.0 and OFFLINE.hang_limit(0.5) == 0.5


def test_substitution_log_merges_ranges_and_keeps_counting_past_its_capacity() -> None:
    log = SubstitutionLog()
    for k in range(600):
        log.note(k * 100, 10)  # 600 separate ranges, only 256 kept
    info = log.to_dict()
    assert info["samples"] == 6000 and info["blocks"] == 600 and info["ranges_truncated"]
    other = SubstitutionLog()
    other.note(5, 10)
    merged = other.merge(SubstitutionLog())
    assert merged.to_dict()["ranges"] == [[5, 15]] and merged.first == 5


def test_validate_knows_the_hang_limit_node_option(registry: Registry) -> None:
    doc = {
        "version": 1, "duration": 0.1,
        "nodes": {"s": {"type": "sine", "params": {}}, "g": {"type": "gain", "hang_limit_s": 0}},
        "connections": [{"from": "s", "to": "g"}],
    }  # fmt: skip
    with pytest.raises(Exception, match="hang_limit_s"):
        validate_config_data(ParsedDocument(doc, "<t>"), registry=registry, base_dir=Path("."))


def test_graph_process_streams_offline_unless_asked_for_real_time() -> None:
    reg = with_plugins(plugin(SLOW, name="slow"))
    config = chain_config(["slow"], reg, block=64, deadline_ms=0.01)
    graph = Graph.from_dict(config.data, registry=reg)
    try:
        offline = [graph.process(64)["out"] for _ in range(20)]
        assert graph._live is not None and not graph._live.plan.timing.realtime
        whole = render(config, reg, out_dir=None, capture=True).captured["out"][:, : 20 * 64]
        np.testing.assert_array_equal(np.concatenate(offline, axis=1), whole)
        graph.process(64, realtime=True)
        assert graph._live is not None and graph._live.plan.timing.realtime  # re-planned
    finally:
        graph.close()


def test_a_node_refused_at_load_is_named_once_without_restart_talk() -> None:
    nodes = {
        "h": {
            "failed": True,
            "restarts": 0,
            "failure_reason": "node 'h': latency_samples = '10 ** 15' is out of range",
            "substituted": {"samples": 48_000, "blocks": 94, "first_sample": 0},
        }
    }
    assert fallback_lines(nodes, 48_000) == [
        "node 'h': failed (latency_samples = '10 ** 15' is out of range); its fallback played "
        "for 1.00 s (48000 samples from sample 0)"
    ]
