"""Every worker option docs/config.md lists is accepted in a config and reaches the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems, write

from aers_host import load_config
from aers_host.sandbox import NodeOptions

GRAPH = """
    sample_rate: 48000
    block_size: 512
    duration: 1.0
    nodes:
      tone: {{type: sine, params: {{freq: 440}}}}
      g: {{type: gain, {options}}}
      out: {{type: output}}
    connections:
      - {{from: tone, to: g}}
      - {{from: g, to: out}}
"""

WORKER_OPTIONS = {
    "hang_timeout_ms": 900, "max_failures": 1, "failure_window_s": 30, "memory_mb": 256,
    "cpu_seconds": 60, "start_timeout_s": 5, "state_every_s": 0.5,
}


def test_documented_worker_options_load_and_reach_node_options(tmp_path: Path) -> None:
    text = ", ".join(f"{key}: {value}" for key, value in WORKER_OPTIONS.items())
    config = load_config(write(tmp_path, GRAPH.format(options=text)))
    options = config.nodes["g"].options
    assert dict(options) == WORKER_OPTIONS
    parsed = NodeOptions.parse(options, "per-instance", 48_000, 512, "g")
    assert (parsed.max_failures, parsed.failure_window_s, parsed.memory_mb) == (1, 30.0, 256)
    assert (parsed.cpu_seconds, parsed.start_timeout_s, parsed.state_every_s) == (60, 5.0, 0.5)
    assert parsed.hang_timeout_s == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_failures", 0), ("memory_mb", 8), ("start_timeout_s", 0), ("hang_timeout_ms", -1),
     ("cpu_seconds", 1.5)],
)  # fmt: skip
def test_out_of_range_worker_option_is_located(tmp_path: Path, option: str, value: float) -> None:
    found = problems(write(tmp_path, GRAPH.format(options=f"{option}: {value}")))
    assert [p.path for p in found] == [f"nodes.g.{option}"]
    assert found[0].line == 6
