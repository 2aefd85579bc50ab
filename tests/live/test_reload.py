"""Rebuilding a node type in a running graph: state handover, rollback, what survives."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aers_host import Processor, default_registry
from aers_host._nodetype import CheckContext
from aers_host.config import load_config
from aers_host.errors import GraphError
from aers_host.live import LiveGraph, NodeHealth, state_version, unhealthy
from aers_host.plugins import NodeRegistry

BLOCK = 256
DELAY = 3000
TEXT = f"""
    block_size: {BLOCK}
    nodes:
      imp: {{type: impulse, params: {{channels: 1}}}}
      dly: {{type: tdelay, params: {{samples: {DELAY}, feedback: 0.5, mix: 1.0}}}}
      g:   {{type: gain, params: {{gain_db: 0, smoothing_ms: 0}}}}
      out: {{type: output}}
    connections:
      - {{from: imp, to: dly}}
      - {{from: dly, to: g}}
      - {{from: g, to: out}}
"""


@dataclass(slots=True, eq=False)
class VersionedDelay:
    """The built-in delay as a "plugin" whose processors declare a state version."""

    version: object
    base: Any
    name: str = "tdelay"
    created: int = 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.base, attr)

    @property
    def role(self) -> Any:
        return self.base.role

    def create(self, params: Mapping[str, Any], ctx: CheckContext) -> Processor:
        proc = self.base.create(params, ctx)
        proc.state_version = self.version
        self.created += 1
        return proc  # type: ignore[no-any-return]


def registry_with(version: object) -> tuple[NodeRegistry, VersionedDelay]:
    registry = default_registry(entry_points=False, store=False)
    node_type = VersionedDelay(version, registry["delay"])
    registry.add(node_type, "store")
    return registry, node_type


def live_graph(tmp_path: Path, registry: NodeRegistry) -> LiveGraph:
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(TEXT).lstrip(), encoding="utf-8")
    return LiveGraph(load_config(path, registry=registry), registry, crossfade_ms=5)


def run(live: LiveGraph, blocks: int) -> np.ndarray:
    chunks = []
    for _ in range(blocks):
        live.process_block(BLOCK)
        chunks.append(live.plan.node("g").out_buf[:, :BLOCK].copy())
    audio: np.ndarray = np.concatenate(chunks, axis=1)[0]
    return audio


def echoes(audio: np.ndarray, count: int) -> list[float]:
    return [float(audio[k * DELAY]) for k in range(1, count + 1)]


def test_compatible_state_is_handed_over_and_the_tail_continues(tmp_path: Path) -> None:
    registry, v1 = registry_with(1)
    live = live_graph(tmp_path, registry)
    old = live.plan.node("dly").proc
    before = run(live, 20)  # swap mid-tail: between the 1st and 2nd echo
    ticket = live.replace_type("tdelay", VersionedDelay(1, v1.base))
    assert ticket is not None and ticket.nodes["dly"] is not old
    after = run(live, 60)
    audio = np.concatenate([before, after])
    assert ticket.handover == {"dly": "state"} and ticket.sample == 20 * BLOCK
    assert echoes(audio, 4) == pytest.approx([1.0, 0.5, 0.25, 0.125], abs=1e-6)
    assert live.plan.node("dly").proc is ticket.nodes["dly"]
    assert "dly--old" not in live.plan.index
    assert live.journal[-1]["ops"][0]["op"] == "reload_plugin"


def test_incompatible_state_starts_fresh(tmp_path: Path) -> None:
    registry, v1 = registry_with(1)
    live = live_graph(tmp_path, registry)
    before = run(live, 20)
    ticket = live.replace_type("tdelay", VersionedDelay(2, v1.base))
    after = run(live, 60)
    audio = np.concatenate([before, after])
    assert ticket is not None and ticket.handover == {"dly": "fresh"}
    assert echoes(audio, 3) == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)  # the tail is gone


def test_rollback_puts_the_old_processor_back(tmp_path: Path) -> None:
    registry, v1 = registry_with(1)
    live = live_graph(tmp_path, registry)
    run(live, 4)
    old = live.plan.node("dly").proc
    live.hold([old])
    live.replace_type("tdelay", VersionedDelay(1, v1.base))
    run(live, 10)
    live.collect()  # held: not closed
    undo = live.replace_type("tdelay", v1, who="rollback", reuse={"dly": old})
    run(live, 10)
    assert undo is not None and undo.nodes == {}
    assert live.plan.node("dly").proc is old
    assert [e["who"] for e in live.journal] == ["reload", "rollback"]
    live.release()
    live.collect()


def test_unknown_type_only_changes_the_registry(tmp_path: Path) -> None:
    registry, v1 = registry_with(1)
    live = live_graph(tmp_path, registry)
    newcomer = VersionedDelay(1, v1.base, name="other")
    assert live.replace_type("other", newcomer) is None
    assert live.registry["other"] is newcomer and live.journal == []


def test_runtime_flags_survive_an_edit(tmp_path: Path) -> None:
    registry, _ = registry_with(1)
    live = live_graph(tmp_path, registry)
    run(live, 2)
    live.plan.node("g").mute = True
    live.submit({"op": "set_param", "id": "g", "param": "gain_db", "value": -6})
    audio = run(live, 40)
    assert live.plan.node("g").mute and not np.any(audio)


def test_refused_edit_does_not_touch_kept_processors(tmp_path: Path) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(
        "nodes:\n  src: {type: sine}\n  a: {type: gain}\n  b: {type: gain}\n"
        "  out: {type: output}\nconnections:\n  - {from: src, to: a}\n"
        "  - {from: a, to: b}\n  - {from: b, to: out}\n",
        encoding="utf-8",
    )
    registry, _ = registry_with(1)
    live = LiveGraph(load_config(path, registry=registry), registry)
    proc = live.plan.node("a").proc
    before = copy.deepcopy(proc.get_state())
    with pytest.raises(GraphError, match="split the edit"):
        live.submit(
            [
                {"op": "set_param", "id": "a", "param": "gain_db", "value": -30},
                {"op": "disconnect", "from": "src", "to": "a"},
                {"op": "disconnect", "from": "a", "to": "b"},
                {"op": "disconnect", "from": "b", "to": "out"},
                {"op": "connect", "from": "src", "to": "b"},
                {"op": "connect", "from": "b", "to": "a"},
                {"op": "connect", "from": "a", "to": "out"},
            ]
        )
    assert proc.get_state() == before and live.settled
    live.close()


def test_edits_wait_for_the_previous_fade_or_refuse(tmp_path: Path) -> None:
    registry, _ = registry_with(1)
    live = live_graph(tmp_path, registry)
    live.submit({"op": "set_gain", "from": "g", "to": "out", "gain_db": -3})
    with pytest.raises(GraphError, match="still fading in"):
        live.submit({"op": "set_gain", "from": "g", "to": "out", "gain_db": -6}, wait=0.01)


def test_state_version_lookup() -> None:
    class Plain:
        def get_state(self) -> dict[str, Any]:
            return {"plugin": {"state_version": "2"}}

    class Declared(Plain):
        state_version = 3

        def get_state(self) -> dict[str, Any]:
            return {}

    assert state_version(Plain()) == "2"  # type: ignore[arg-type]
    assert state_version(Declared()) == 3  # type: ignore[arg-type]
    assert state_version(Declared(), {"state_version": 4}) == 4  # type: ignore[arg-type]


def test_probation_rule() -> None:
    ok = NodeHealth()
    assert unhealthy(ok, ok) == ""
    died = NodeHealth(restarts=1, failure_reason="worker died")
    assert unhealthy(ok, died) == "restarts +1 (worker died)"
    assert unhealthy(ok, NodeHealth(failed=True, errors=2, nan_blocks=1)) == (
        "failed, errors +2, nan_blocks +1"
    )
    assert unhealthy(died, died) == ""  # only counters that moved since the baseline count
