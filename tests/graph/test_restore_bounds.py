"""A saved engine state comes from a file: what does not fit is refused, never a crash.

Found by the session fuzzer (``tests/session/test_yaml_fuzz.py``): a hand-edited session
whose node state or compensation line had the wrong type made ``aers render --resume``
die with an internal error (exit 3), and a ``pos`` outside its line would have indexed
past it on the audio thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphs import Registry

from aers_host.config import ParsedDocument, validate_config_data
from aers_host.errors import GraphError, SessionError
from aers_host.graph import Engine, build_plan

CONFIG = {
    "version": 1, "sample_rate": 48000, "block_size": 256,
    "nodes": {"tone": {"type": "sine"}, "dly": {"type": "delay", "params": {"samples": 300}},
              "lim": {"type": "limiter"}, "eq1": {"type": "eq"}, "out": {"type": "output"}},
    "connections": [{"from": "tone", "to": "dly"}, {"from": "dly", "to": "lim"},
                    {"from": "lim", "to": "eq1"}, {"from": "tone", "to": "eq1"},
                    {"from": "eq1", "to": "out"}],
}  # fmt: skip


def _hostile(state: dict[str, Any], change: str) -> None:
    edge = state["edges"]["eq1"][0]
    if change == "eq_bands_int":
        state["nodes"]["eq1"]["bands"] = 7
    elif change == "delay_line_ragged":
        state["nodes"]["dly"]["line"] = [[0.0, 1.0], [0.0]]
    elif change == "param_huge_int":
        state["nodes"]["dly"]["params"] = {"mix": 10**400}
    elif change == "edge_pos_outside":
        edge["pos"] = len(edge["line"][0]) + 5
    elif change == "edge_pos_negative":
        edge["pos"] = -1
    elif change == "edge_not_an_object":
        state["edges"]["eq1"][0] = 3
    elif change == "edges_not_a_list":
        state["edges"]["eq1"] = 3
    elif change == "flags_not_an_object":
        state["flags"] = {"eq1": 3}


@pytest.mark.security
@pytest.mark.parametrize(
    "change",
    ["eq_bands_int", "delay_line_ragged", "param_huge_int", "edge_pos_outside",
     "edge_pos_negative", "edge_not_an_object", "edges_not_a_list", "flags_not_an_object"],
)  # fmt: skip
def test_a_hostile_saved_state_is_refused_naming_the_node(change: str, registry: Registry) -> None:
    config = validate_config_data(ParsedDocument(CONFIG, "<t>"), registry=registry,
                                  base_dir=Path("."))  # fmt: skip
    plan = build_plan(config, registry)
    try:
        engine = Engine(plan)
        engine.process_block(256)
        state = engine.state()
        assert state["edges"]["eq1"], "the dry path is compensated for the limiter"
        _hostile(state, change)
        with pytest.raises((GraphError, SessionError), match=r"node '(eq1|dly)'"):
            Engine(plan).restore(state)
    finally:
        plan.close()
