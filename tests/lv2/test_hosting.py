"""Hosting an adopted LV2 plugin: exactness, block-size invariance, latency, state, crashes.

The reference is AERS's built-in chain ``gain(smoothing_ms: 0) → delay(samples: 32)``,
which computes what the test plugin computes (the factor ``10**(dB/20)`` in double, one
rounding to float): the outputs must be bit-identical, in a worker and in-process, at any
block size. Latency compensation is checked against the analytic result of a dry path
summed with the delayed one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from sandbox._graphs import with_plugins, worker_pids
from sandbox._helpers import shm_segments_of

from aers_host import ParamEvent
from aers_host._nodetype import CheckContext
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.errors import NativeABIError, PluginValidationError
from aers_host.graph import Engine, build_plan
from aers_host.lv2 import Lv2Processor, Lv2WorkerProcessor, load_lv2_plugin
from aers_host.plugins import VerifiedPlugin

from .conftest import GAINDELAY_DELAY, GAINDELAY_URI, needs_build, needs_lilv

pytestmark = [needs_lilv, needs_build]
RATE = 48_000


def _config(nodes: dict[str, Any], edges: list[tuple[str, str]], block: int, reg: Any) -> Any:
    doc = {
        "version": 1, "sample_rate": RATE, "block_size": block, "duration": 0.25,
        "nodes": {"src": {"type": "noise", "params": {"level_db": -6, "seed": 7}}, **nodes,
                  "out": {"type": "output"}},
        "connections": [{"from": a, "to": b} for a, b in edges],
    }  # fmt: skip
    return validate_config_data(ParsedDocument(doc, "<test>"), registry=reg, base_dir=Path("."))


def _render(config: Any, reg: Any, blocks: int) -> tuple[np.ndarray, Any]:
    plan = build_plan(config, reg)
    try:
        engine = Engine(plan)
        chunks = []
        for _ in range(blocks):
            engine.process_block(plan.block_size)
            chunks.append(plan.sinks()[0].proc.take())  # type: ignore[attr-defined]
        return np.concatenate(chunks), plan.total_latency
    finally:
        plan.close()


#: A generous per-block wait: these tests check what the worker computes, not its speed on
#: a busy machine (a late block would be a fallback block, an xrun).
PATIENT = {"deadline_ms": 5000.0}


def _lv2_graph(plugin: VerifiedPlugin, block: int, isolation: str) -> Any:
    node = {"type": plugin.name, "isolation": isolation, "params": {"gain_db": -6.0}}
    if isolation != "in-process":
        node.update(PATIENT)
    return _config({"fx": node}, [("src", "fx"), ("fx", "out")], block, with_plugins(plugin))


def _builtin_graph(block: int) -> Any:
    nodes = {
        "g": {"type": "gain", "params": {"gain_db": -6.0, "smoothing_ms": 0.0}},
        "d": {"type": "delay", "params": {"samples": GAINDELAY_DELAY, "mix": 1.0}},
    }
    return _config(nodes, [("src", "g"), ("g", "d"), ("d", "out")], block, with_plugins())


def test_bit_identical_to_the_builtin_chain_at_any_block_size(gaindelay: VerifiedPlugin):
    reference, _ = _render(_builtin_graph(512), with_plugins(), 8)
    assert np.abs(reference).max() > 0.1  # the noise arrived: the comparison means something
    for isolation, block in (("per-instance", 512), ("per-instance", 64), ("in-process", 128)):
        config = _lv2_graph(gaindelay, block, isolation)
        out, latency = _render(config, with_plugins(gaindelay), 8 * 512 // block)
        assert latency == GAINDELAY_DELAY, isolation
        np.testing.assert_array_equal(out, reference, err_msg=f"{isolation} at {block}")


def test_reported_latency_is_compensated_on_a_parallel_dry_path(gaindelay: VerifiedPlugin):
    reg = with_plugins(gaindelay)
    dry, _ = _render(_config({}, [("src", "out")], 256, reg), reg, 4)
    fx = {"type": "gaindelay", "params": {"gain_db": 0.0}, **PATIENT}
    edges = [("src", "fx"), ("fx", "bus"), ("src", "bus"), ("bus", "out")]
    out, latency = _render(_config({"fx": fx, "bus": {"type": "mix"}}, edges, 256, reg), reg, 4)
    assert latency == GAINDELAY_DELAY
    expected = np.zeros_like(dry)
    expected[GAINDELAY_DELAY:] = 2 * dry[:-GAINDELAY_DELAY]  # both paths line up: exact sum
    np.testing.assert_array_equal(out, expected)


def test_latency_of_nodes_sharing_a_worker_is_compensated_too(gaindelay: VerifiedPlugin):
    # A shared worker starts after the planner first read its nodes' latency (0 then).
    reg = with_plugins(gaindelay)
    dry, _ = _render(_config({}, [("src", "out")], 256, reg), reg, 4)
    fx = {"type": "gaindelay", "isolation": "shared", **PATIENT}
    nodes = {"fx1": fx, "fx2": fx, "bus": {"type": "mix"}}
    edges = [("src", "fx1"), ("fx1", "fx2"), ("fx2", "bus"), ("src", "bus"), ("bus", "out")]
    out, latency = _render(_config(nodes, edges, 256, reg), reg, 4)
    assert latency == 2 * GAINDELAY_DELAY
    expected = np.zeros_like(dry)
    expected[2 * GAINDELAY_DELAY :] = 2 * dry[: -2 * GAINDELAY_DELAY]
    np.testing.assert_array_equal(out, expected)


def test_default_isolation_is_a_worker_and_in_process_needs_the_node_option(
    gaindelay: VerifiedPlugin,
):
    ctx = CheckContext(RATE, 256, Path("."), node_id="fx")
    assert isinstance(load_lv2_plugin(gaindelay, {}, ctx), Lv2WorkerProcessor)
    manifest_asks = dataclasses.replace(gaindelay, isolation="in-process")
    assert isinstance(load_lv2_plugin(manifest_asks, {}, ctx), Lv2WorkerProcessor)
    chosen = dataclasses.replace(ctx, node_options={"isolation": "in-process"})
    assert isinstance(load_lv2_plugin(gaindelay, {}, chosen), Lv2Processor)


def _processor(plugin: VerifiedPlugin, **values: float) -> Lv2Processor:
    ctx = CheckContext(RATE, 512, Path("."), node_id="fx", node_options={"isolation": "in-process"})
    proc = load_lv2_plugin(plugin, values, ctx)
    assert isinstance(proc, Lv2Processor)
    return proc


def test_parameter_changes_split_the_block_sample_accurately(gaindelay: VerifiedPlugin):
    proc = _processor(gaindelay, gain_db=0.0)
    proc.prepare(RATE, 512, 1)
    x = np.arange(1, 513, dtype=np.float32)[None, :] / 512
    out = np.zeros_like(x)
    proc.process(x, out, 0, [ParamEvent(200, "gain_db", -6.0), ParamEvent(300, "mode", 1.0)])
    delayed = np.concatenate([np.zeros(GAINDELAY_DELAY), x[0, :-GAINDELAY_DELAY]])
    g = 10.0 ** (-6.0 / 20.0)
    expected = np.concatenate([delayed[:200], delayed[200:300] * g, delayed[300:] * -g]).astype(
        np.float32
    )
    np.testing.assert_array_equal(out[0], expected)
    proc.close()


def test_enumerations_and_ranges_are_honoured(gaindelay: VerifiedPlugin):
    params = {p.name: p for p in gaindelay.params}
    assert params["gain_db"].unit == "dB" and params["gain_db"].min == -60.0
    assert [e.label for e in params["mode"].enum or ()] == ["normal", "inverted"]
    proc = _processor(gaindelay)
    proc.prepare(RATE, 64, 1)
    out = np.zeros((1, 64), np.float32)
    proc.process(np.ones((1, 64), np.float32), out, 0, [ParamEvent(0, "mode", 0.7)])
    assert proc.values["mode"] == 1.0  # snapped to the nearest declared value
    proc.process(np.ones((1, 64), np.float32), out, 64, [ParamEvent(0, "gain_db", 99.0)])
    assert proc.values["gain_db"] == 12.0  # clamped to the declared maximum
    proc.close()


def test_mono_plugin_runs_per_channel_and_a_stereo_node_keeps_channels_apart(
    gaindelay: VerifiedPlugin,
):
    proc = _processor(gaindelay)
    proc.prepare(RATE, 128, 2)
    x = np.stack([np.ones(128, np.float32), -np.ones(128, np.float32)])
    out = np.zeros_like(x)
    proc.process(x, out, 0, [])
    np.testing.assert_array_equal(out[:, GAINDELAY_DELAY:], x[:, GAINDELAY_DELAY:])
    assert len(proc.get_state()["lv2"]) == 2  # one saved state per instance
    proc.close()


def _with_section(plugin: VerifiedPlugin, section: dict[str, object]) -> VerifiedPlugin:
    """``plugin`` whose (already verified) manifest carries another ``lv2`` section."""
    assert plugin.manifest is not None
    return dataclasses.replace(plugin, manifest=dataclasses.replace(plugin.manifest, lv2=section))


def test_unmappable_layout_is_refused_with_the_reason(gaindelay: VerifiedPlugin):
    stereo = {**(gaindelay.lv2_section or {}), "audio_in": [0, 5], "audio_out": [1, 6]}
    plugin = _with_section(gaindelay, stereo)
    ctx = CheckContext(RATE, 64, Path("."), node_id="fx")
    proc = load_lv2_plugin(plugin, {}, ctx)
    with pytest.raises(PluginValidationError, match=r"2 audio input\(s\).*carries 1 channel"):
        proc.prepare(RATE, 64, 1)  # type: ignore[attr-defined]


@pytest.mark.security
def test_a_library_without_the_signed_uri_is_refused_in_process_and_in_a_worker(
    gaindelay: VerifiedPlugin,
):
    plugin = _with_section(
        gaindelay, {**(gaindelay.lv2_section or {}), "uri": "urn:aers:test:other"}
    )
    ctx = CheckContext(RATE, 64, Path("."), node_id="fx", node_options={"isolation": "in-process"})
    with pytest.raises(NativeABIError, match="has no LV2 plugin <urn:aers:test:other>"):
        load_lv2_plugin(plugin, {}, ctx)
    worker = load_lv2_plugin(plugin, {}, dataclasses.replace(ctx, node_options={}))
    assert isinstance(worker, Lv2WorkerProcessor)
    worker.prepare(RATE, 64, 1)
    try:  # the node fails from the start, named, on its fallback; the graph goes on
        assert worker.failed and "has no LV2 plugin <urn:aers:test:other>" in worker.failure_reason
    finally:
        worker.close()


def test_state_round_trip_restores_the_delay_line(gaindelay: VerifiedPlugin):
    first = _processor(gaindelay)
    first.prepare(RATE, 64, 1)
    x = np.linspace(-1, 1, 64, dtype=np.float32)[None, :]
    out = np.zeros_like(x)
    first.process(x, out, 0, [])
    state = json.loads(json.dumps(first.get_state()))  # what a session stores
    first.process(x, out, 64, [])
    expected = out.copy()
    second = _processor(gaindelay)
    second.set_state(state)  # before prepare: applied when the instance exists
    second.prepare(RATE, 64, 1)
    second.process(x, out, 64, [])
    np.testing.assert_array_equal(out, expected)
    first.close()
    second.close()


def _session_config(folder: Path, name: str) -> Path:
    config = folder / "graph.yaml"
    config.write_text(
        "version: 1\nsample_rate: 48000\nblock_size: 256\nduration: 1.0\n"
        "nodes:\n  src: {type: noise, params: {level_db: -6, seed: 4}}\n"
        f"  fx: {{type: {name}, isolation: per-instance, deadline_ms: 5000,"
        " params: {gain_db: -3.0}}\n"
        "  out: {type: output, params: {path: out.wav}}\n"
        "connections:\n  - {from: src, to: fx}\n  - {from: fx, to: out}\n"
    )
    return config


@pytest.mark.slow
def test_lv2_state_survives_a_session_resume_bit_for_bit(
    gaindelay_bundle: Path, tmp_path: Path, aers_home: Path, run_cli
):
    run_cli("keys", "generate", "lv2")
    assert (
        run_cli("keys", "trust", aers_home / "keys" / "lv2.pub.pem", "--scope", "native").code == 0
    )
    adopted = run_cli("plugin", "adopt", gaindelay_bundle, "--uri", GAINDELAY_URI, "--name", "gd",
                      "--key", aers_home / "keys" / "lv2.key.pem", "--out", tmp_path / "gd")  # fmt: skip
    assert adopted.code == 0, adopted.err
    assert run_cli("plugin", "install", tmp_path / "gd", "--no-notify").code == 0
    config = _session_config(tmp_path, "gd")
    whole = run_cli("render", config, "--duration", "0.2", "--out-dir", tmp_path / "whole")
    assert whole.code == 0, whole.err
    part = run_cli("render", config, "--duration", "0.1", "--out-dir", tmp_path / "a",
                   "--save-session", "s1")  # fmt: skip
    assert part.code == 0, part.err
    rest = run_cli("render", "--resume", "s1", "--duration", "0.1", "--out-dir", tmp_path / "b")
    assert rest.code == 0, rest.err
    joined = np.concatenate([sf.read(tmp_path / d / "out.wav", dtype="float32")[0] for d in "ab"])
    reference = sf.read(tmp_path / "whole" / "out.wav", dtype="float32")[0]
    np.testing.assert_array_equal(joined, reference)


@pytest.mark.slow
def test_killing_an_lv2_worker_costs_only_its_node(gaindelay: VerifiedPlugin):
    before = worker_pids()
    reg = with_plugins(gaindelay)
    nodes = {"fx": {"type": "gaindelay", "deadline_ms": 100.0},
             "g": {"type": "gain", "params": {"gain_db": -6.0}}}  # fmt: skip
    config = _config(nodes, [("src", "fx"), ("fx", "out"), ("src", "g"), ("g", "out")], 256, reg)
    plan = build_plan(config, reg)
    mine: set[int] = set()
    try:
        engine = Engine(plan)
        fx = plan.nodes[plan.index["fx"]].proc
        assert isinstance(fx, Lv2WorkerProcessor)
        engine.process_block(256)
        assert fx.worker_pid is not None
        mine.add(fx.worker_pid)
        os.kill(fx.worker_pid, signal.SIGKILL)
        for _ in range(3000):  # until the replacement is adopted (a liveness bound)
            engine.process_block(256)
            plan.sinks()[0].proc.take()  # type: ignore[attr-defined]
            mine |= worker_pids() - before
            if fx.restarts:
                break
            time.sleep(0.002)
        assert fx.restarts == 1 and not fx.failed
        assert "worker died while running fx" in fx.failure_reason
    finally:
        plan.close()
    assert not {p for p in mine if Path(f"/proc/{p}").exists()} - _zombies(mine)
    assert shm_segments_of(os.getpid()) == []


def _zombies(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X"):
            found.add(pid)
    return found
