"""Rendering through a real remote node on loopback: exact, latency-compensated, refusals."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry

from aers_host import load_config
from aers_host.errors import ConfigError, GraphError
from aers_host.graph import build_plan, render

from .conftest import NodeProcess

GRAPH = """
    duration: 0.5
    block_size: {block}
    nodes:
      tone: {{type: sine, params: {{freq: 440, level_db: -6}}}}
      hiss: {{type: noise, params: {{level_db: -20, seed: 5}}}}
      bus:  {{type: mix}}
      rem:  {{type: remote, deadline_ms: 2000, params: {{url: "{url}", token_env: AERS_NODE_TOKEN,
              chain: [{{type: gain, params: {{gain_db: -6, smoothing_ms: 0}}}}],
              latency_blocks: {latency}}}}}
      loc:  {{type: gain, params: {{gain_db: -6, smoothing_ms: 0}}}}
      sum:  {{type: mix}}
      out:  {{type: output}}
      ref:  {{type: output}}
      both: {{type: output}}
    connections:
      - {{from: tone, to: bus}}
      - {{from: hiss, to: bus}}
      - {{from: bus, to: rem}}
      - {{from: rem, to: out}}
      - {{from: bus, to: loc}}
      - {{from: loc, to: ref}}
      - {{from: rem, to: sum}}
      - {{from: bus, to: sum, gain_db: -6}}
      - {{from: sum, to: both}}
"""


def write(tmp_path: Path, url: str, latency: int = 1, block: int = 512) -> Path:
    path = tmp_path / "remote.yaml"
    text = GRAPH.format(url=url, latency=latency, block=block)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize(("latency", "block"), [(1, 512), (3, 256), (0, 128)])
def test_remote_gain_equals_local_gain_delayed(
    registry: Registry, tmp_path: Path, any_node: NodeProcess, latency: int, block: int
) -> None:
    cfg = load_config(write(tmp_path, any_node.url, latency, block), registry=registry)
    result = render(cfg, registry, out_dir=None, capture=True)
    delay = latency * block
    out, ref, both = (result.captured[k] for k in ("out", "ref", "both"))
    assert result.plan.node("rem").latency == delay
    assert np.array_equal(out[:, delay:], ref[:, : ref.shape[1] - delay])
    assert not out[:, :delay].any()
    # the dry path into `sum` was delayed by the planner to line up with the remote one
    dry = ref[:, : ref.shape[1] - delay]  # bus at -6 dB, as the connection's gain_db says
    assert np.allclose(both[:, delay:], out[:, delay:] + dry, atol=1e-6)
    stats = result.plan.node("rem").proc.remote_stats()  # type: ignore[attr-defined]
    assert stats["late_blocks"] == 0
    blocks = -(-24000 // block)  # the last `latency` results may still be in flight
    assert blocks - latency <= stats["rtt_us"]["count"] <= blocks
    assert 0 < stats["rtt_us"]["p50"] < 1e6


def test_cli_render_reports_rtt_in_metrics(tmp_path: Path, node: NodeProcess, run_cli) -> None:  # type: ignore[no-untyped-def]
    prom = tmp_path / "metrics.prom"
    result = run_cli(
        "render", write(tmp_path, node.url), "--out-dir", tmp_path / "o", "--prometheus", prom
    )
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    remote = metrics["nodes"]["rem"]["remote"]
    assert remote["late_blocks"] == 0 and 46 <= remote["rtt_us"]["count"] <= 47
    samples = dict(line.rsplit(" ", 1) for line in prom.read_text().splitlines() if line[0] != "#")
    rtt = float(samples['aers_remote_rtt_seconds{node="rem",stat="p50"}'])
    assert rtt == pytest.approx(remote["rtt_us"]["p50"] / 1e6)
    assert samples['aers_remote_late_blocks_total{node="rem"}'] == "0"
    out, _ = sf.read(tmp_path / "o" / "out.wav", dtype="float32")
    ref, _ = sf.read(tmp_path / "o" / "ref.wav", dtype="float32")
    assert np.array_equal(out[512:], ref[:-512])


def test_live_server_metrics_carry_the_remote_rtt(
    registry: Registry, tmp_path: Path, node: NodeProcess
) -> None:
    from aers_host.metrics import prometheus_text
    from aers_host.server import LiveRuntime, live_summary

    runtime = LiveRuntime.from_config(load_config(write(tmp_path, node.url), registry=registry),
                                      registry)  # fmt: skip
    runtime.start()
    try:
        deadline = time.monotonic() + 10
        while runtime.blocks < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        summary = live_summary(runtime)
    finally:
        runtime.close()
    remote = summary["nodes"]["rem"]["remote"]
    assert remote["connected"] and remote["rtt_us"]["count"] >= 10, remote
    assert 0 < remote["rtt_us"]["p50"] <= remote["rtt_us"]["max"]
    assert 'aers_remote_connected{node="rem"} 1' in prometheus_text(summary)


@pytest.mark.security
def test_wrong_token_is_refused_with_a_clear_error(
    registry: Registry, tmp_path: Path, any_node: NodeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(write(tmp_path, any_node.url), registry=registry)
    monkeypatch.setenv("AERS_NODE_TOKEN", "wrong-token-xxxxxxxx")
    why = r"HTTP 401" if any_node.scheme == "ws" else r"invalid or missing node token"
    with pytest.raises(GraphError, match=rf"node at {any_node.url} refused the token \({why}\)"):
        build_plan(cfg, registry)


def test_wrong_token_via_cli_exits_1_without_traceback(
    tmp_path: Path,
    node: NodeProcess,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("AERS_NODE_TOKEN", "not-the-token")
    result = run_cli("render", write(tmp_path, node.url), "--out-dir", tmp_path / "o")
    assert result.code == 1
    assert "refused the token" in result.err and "Traceback" not in result.err


def test_chain_the_node_cannot_run_is_refused(
    registry: Registry, tmp_path: Path, any_node: NodeProcess
) -> None:
    text = write(tmp_path, any_node.url).read_text().replace("gain_db: -6, smoothing_ms: 0}}]",
                                                         "gain_db: 99}}]")  # fmt: skip
    (tmp_path / "bad.yaml").write_text(text.replace("type: gain, params", "type: gain, params"))
    cfg = load_config(tmp_path / "bad.yaml", registry=registry)  # the client cannot tell
    with pytest.raises(GraphError, match=r"refused the chain: .*gain_db"):
        build_plan(cfg, registry)


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
def test_unreachable_node_is_a_clear_error(
    registry: Registry, tmp_path: Path, node_token: str, scheme: str
) -> None:
    cfg = load_config(write(tmp_path, f"{scheme}://127.0.0.1:9"), registry=registry)
    with pytest.raises(GraphError, match=rf"cannot reach the node at {scheme}://127\.0\.0\.1:9"):
        build_plan(cfg, registry)


def test_config_checks_token_env_and_chain_shape(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AERS_NODE_TOKEN", raising=False)
    text = write(tmp_path, "ws://127.0.0.1:1").read_text()
    text = text.replace("chain: [", "chain: [{type: remote}, ")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "bad.yaml", registry=registry)
    message = str(err.value)
    assert "AERS_NODE_TOKEN is not set" in message
    assert "cannot contain another remote node" in message
