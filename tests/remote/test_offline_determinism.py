"""Offline renders are exact whatever the machine load and block size (architecture.md, Timing modes).

One graph holds every kind of node that answers from elsewhere: a sandboxed Python plugin
(worker process), a native plugin in-process (ctypes) and the same one in a worker, and a
remote node (``aers node serve``, its chain a feedback delay). It is rendered once on a quiet machine at 512 frames, then at 32, 64,
100, 512 and 4096 frames while two busy-loop processes load both cores; every render must
be bit-identical to the first. At 32 frames a block's real-time deadline is 0.33 ms, which
a loaded machine misses all the time: any deadline left in the offline path shows here.
The same holds for a batch variant and for a render saved halfway and resumed.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry
from native.conftest import REPO, verified
from sandbox._graphs import with_plugins
from sandbox._helpers import plugin

from aers_host.config import ParsedDocument, validate_config_data
from aers_host.graph import render
from aers_host.native import build_plugin
from aers_host.plugins import StorePluginType

from .conftest import NodeProcess

pytestmark = pytest.mark.slow

#: A stateful one-pole lowpass written per sample: its output depends on every earlier
#: block, never on where blocks begin.
SMOOTH = """
import numpy as np
class P:
    def prepare(self, sample_rate, max_block, channels):
        self.y = [0.0] * channels
    def process(self, inp, out, start, events):
        a = self.params['a']
        for c in range(inp.shape[0]):
            y = self.y[c]
            for i in range(inp.shape[1]):
                y = y + a * (float(inp[c, i]) - y)
                out[c, i] = y
            self.y[c] = y
    def get_state(self):
        return {"y": list(self.y)}
    def set_state(self, state):
        self.y = [float(v) for v in state["y"]]
"""
#: Seconds a busy loop runs at most, should the test die before ending it.
BUSY_LIMIT_S = 300
SECONDS = 0.25


@contextlib.contextmanager
def busy_loops(count: int = 2) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes spinning on a CPU each; ended (and reaped) on exit."""
    code = f"import time\nend = time.monotonic() + {BUSY_LIMIT_S}\nwhile time.monotonic() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node_types(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built-ins, the sandboxed ``smooth`` plugin and the example native biquad (stateful)."""
    folder = tmp_path_factory.mktemp("native") / "native_eq"
    shutil.copytree(REPO / "plugins" / "native_eq", folder)
    (lib,) = build_plugin(folder)
    smooth = plugin(SMOOTH, ({"name": "a", "default": 0.3, "min": 0.0, "max": 1.0},), "smooth")
    # named as the library (as tests/native names it): loaded bytes are cached by hash
    return {**with_plugins(smooth), "native_eq": StorePluginType.of(verified(lib))}


def graph_doc(url: str, block: int, seconds: float = SECONDS) -> dict[str, Any]:
    """noise → smooth (sandbox) → eq (native, in-process) → eq_w (native, in a worker) → rem
    (remote delay) → out."""
    return {
        "version": 1, "sample_rate": 48_000, "block_size": block, "duration": seconds,
        "nodes": {
            "src": {"type": "noise", "params": {"level_db": -6, "seed": 9, "channels": 2}},
            "smooth": {"type": "smooth", "params": {"a": 0.25}},
            "eq": {"type": "native_eq"},
            "eq_w": {"type": "native_eq", "isolation": "per-instance"},  # native, in a worker
            "rem": {"type": "remote", "params": {
                "url": url, "token_env": "AERS_NODE_TOKEN", "latency_blocks": 0,
                "chain": [{"type": "delay",
                           "params": {"samples": 700, "feedback": 0.5, "mix": 0.5}}]}},
            "out": {"type": "output"},
        },
        "connections": [
            {"from": "src", "to": "smooth"}, {"from": "smooth", "to": "eq"},
            {"from": "eq", "to": "eq_w"}, {"from": "eq_w", "to": "rem"},
            {"from": "rem", "to": "out"},
        ],
    }  # fmt: skip


def render_block(types: dict[str, Any], url: str, block: int, **kwargs: Any) -> Any:
    doc = ParsedDocument(graph_doc(url, block), "<determinism>")
    config = validate_config_data(doc, registry=types, base_dir=Path("."))
    return render(config, types, out_dir=None, capture=True, **kwargs)


def test_every_block_size_under_two_busy_loops_equals_a_quiet_512_render(
    node: NodeProcess, node_types: dict[str, Any]
) -> None:
    reference = render_block(node_types, node.url, 512)
    assert reference.substituted == {}
    expected = reference.captured["out"]
    assert expected.shape == (2, round(SECONDS * 48_000)) and np.abs(expected).max() > 0.01
    with busy_loops():
        for block in (32, 64, 100, 512, 4096):
            result = render_block(node_types, node.url, block)
            assert result.substituted == {}, (block, result.substituted)
            np.testing.assert_array_equal(result.captured["out"], expected, err_msg=f"{block}")
            nodes = {n.id: n.proc for n in result.plan.nodes}
            assert nodes["smooth"].xruns == nodes["eq_w"].xruns == nodes["rem"].xruns == 0


def test_resume_after_save_under_load_is_bit_exact_through_every_kind_of_node(
    node: NodeProcess, node_types: dict[str, Any]
) -> None:
    half = round(SECONDS * 48_000) // 2
    whole = render_block(node_types, node.url, 100).captured["out"]
    with busy_loops():
        first = render_block_for(node_types, node.url, 100, half)
        second = render_block_for(
            node_types, node.url, 100, whole.shape[1] - half, initial_state=first.state
        )
    assert "chain_state" in first.state["nodes"]["rem"]  # the remote delay line travelled
    joined = np.concatenate([first.captured["out"], second.captured["out"]], axis=1)
    np.testing.assert_array_equal(joined, whole)


def render_block_for(
    types: dict[str, Any], url: str, block: int, frames: int, **kwargs: Any
) -> Any:
    doc = ParsedDocument(graph_doc(url, block, frames / 48_000), "<determinism>")
    config = validate_config_data(doc, registry=types, base_dir=Path("."))
    return render(config, types, out_dir=None, capture=True, **kwargs)


def test_a_batch_variant_under_load_equals_a_quiet_render(
    node: NodeProcess, tmp_path: Path, registry: Registry
) -> None:
    from aers_host.batch import load_sweep, run_sweep
    from aers_host.config import load_config

    base = tmp_path / "base.yaml"
    base.write_text(
        textwrap.dedent(f"""
        version: 1
        duration: {SECONDS}
        block_size: 64
        nodes:
          src: {{type: noise, params: {{level_db: -6, seed: 3, channels: 2}}}}
          rem: {{type: remote, params: {{url: "{node.url}", token_env: AERS_NODE_TOKEN,
                 latency_blocks: 2, chain: [{{type: delay, params: {{samples: 300,
                 feedback: 0.4, mix: 0.5}}}}]}}}}
          main: {{type: output, params: {{subtype: FLOAT}}}}
        connections:
          - {{from: src, to: rem}}
          - {{from: rem, to: main}}
        """)
    )
    reference = render(load_config(base, registry=registry), registry, out_dir=tmp_path / "ref")
    assert reference.substituted == {}
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: base.yaml\naxes:\n  nodes.src.params.seed: [3]\n")
    with busy_loops():
        report = run_sweep(
            load_sweep(sweep, registry=registry), tmp_path / "batch", scheduler="threads"
        )
    (row,) = report.rows
    assert row["status"] == "done" and row["substituted_samples"] == 0, row
    got, _ = sf.read(tmp_path / "batch" / row["variant"] / "main.wav", dtype="float32")
    want, _ = sf.read(tmp_path / "ref" / "main.wav", dtype="float32")
    np.testing.assert_array_equal(got, want)
