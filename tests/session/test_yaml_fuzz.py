"""Fuzz: a session YAML is imported and resumed, or refused in lines — never a traceback.

Sessions are a real export (sine → delay → eq → output, with packed state lines) whose
fields and node states are then replaced by values of every JSON type and size, and
packed ``$f64`` blobs by arbitrary text. Importing must return a session or raise an
``AersError``; a session that imports is then resumed as ``aers render --resume`` does
(plan the saved config, restore its state into the engine), which must also raise
nothing but an ``AersError`` and allocate within a bound.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import EDGE_NUMBERS, JSON_VALUES, allocation_peak, fuzz_settings
from graphs import Registry
from hypothesis import given
from hypothesis import strategies as st

from aers_host.config import ParsedDocument, validate_config_data
from aers_host.errors import AersError
from aers_host.graph import Engine, build_plan
from aers_host.session import export_yaml, import_yaml, session_config, session_from_state

CONFIG = {
    "version": 1, "sample_rate": 48000, "block_size": 256,
    "nodes": {"tone": {"type": "sine"}, "dly": {"type": "delay", "params": {"samples": 300}},
              "eq1": {"type": "eq"}, "out": {"type": "output"}},
    "connections": [{"from": "tone", "to": "dly"}, {"from": "dly", "to": "eq1"},
                    {"from": "tone", "to": "eq1"}, {"from": "eq1", "to": "out"}],
}  # fmt: skip
#: Planning this graph and restoring a state into it: far below this.
RESUME_BOUND = 128 << 20
VALUES = EDGE_NUMBERS | JSON_VALUES


@pytest.fixture(scope="module")
def exported(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document of a real session after a few blocks (so its lines hold audio)."""
    tmp_path = tmp_path_factory.mktemp("base")
    config = validate_config_data(ParsedDocument(CONFIG, "<fuzz>"), registry=registry,
                                  base_dir=tmp_path)  # fmt: skip
    plan = build_plan(config, registry)
    try:
        engine = Engine(plan)
        for _ in range(3):
            engine.process_block(256)
        session = session_from_state("fuzz", config, engine.state(), registry)
    finally:
        plan.close()
    export_yaml(session, tmp_path / "base.yaml")
    document: dict[str, Any] = yaml.safe_load((tmp_path / "base.yaml").read_text())
    return document


#: Where a change lands: a top-level field, a node's state field, or a packed line.
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["top", "node", "edge", "packed"]),
        st.sampled_from(["position", "nodes", "edges", "flags", "config", "format_version",
                         "name", "scene", "plugins", "pos", "edge", "line", "params", "dly"]),
        VALUES | st.text(alphabet="ABCDEFabcdef0123456789+/=", max_size=40),
    ),
    min_size=1,
    max_size=4,
)  # fmt: skip


def _mutate(document: dict[str, Any], changes: list[tuple[str, str, Any]]) -> None:
    for where, key, value in changes:
        if where == "top":
            document[key] = value
        elif where == "node" and isinstance(document.get("nodes"), dict):
            node = sorted(document["nodes"])[len(key) % len(document["nodes"])]
            state = document["nodes"][node]
            if isinstance(state, dict):
                state[key if key in state else sorted(state or {key: 0})[0]] = value
        elif where == "edge" and isinstance(document.get("edges"), dict) and document["edges"]:
            lines = next(iter(document["edges"].values()))
            if isinstance(lines, list) and lines and isinstance(lines[0], dict):
                lines[0][key if key in ("pos", "edge", "line") else "pos"] = value
        elif where == "packed":
            _replace_packed(document, value)


def _replace_packed(value: Any, replacement: Any) -> bool:
    """Replace the first ``{$f64: …}`` blob found in ``value`` (depth first)."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in list(items):
        if isinstance(child, dict) and set(child) == {"$f64"}:
            value[key] = {"$f64": replacement}
            return True
        if _replace_packed(child, replacement):
            return True
    return False


@given(changes=CHANGES)
@fuzz_settings()
def test_fuzzed_session_yaml_is_resumed_or_refused(
    registry: Registry,
    changes: list[tuple[str, str, Any]],
    exported: dict[str, Any],
    tmp_path: Path,
) -> None:
    document = copy.deepcopy(exported)
    _mutate(document, changes)
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with allocation_peak(RESUME_BOUND):
        try:
            session = import_yaml(path, registry=registry)
            plan = build_plan(session_config(session, registry), registry)
        except AersError:
            return
        try:
            Engine(plan).restore(session.engine_state())
        except AersError:
            pass
        finally:
            plan.close()
