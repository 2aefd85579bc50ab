"""Fuzz: any config document is validated or refused in lines, never a traceback (exit 3).

Documents are drawn from the real node types and parameter names with values of every
JSON type and size (``fuzzing.EDGE_NUMBERS``), plus raw text. Each is loaded as
``aers validate`` loads it (the text parsed, then validated): it must load or raise an
``AersError`` (the CLI's exit 1), nothing else (exit 3). A document that validates is then
planned, which must raise nothing but an ``AersError`` and allocate within a bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from fuzzing import EDGE_NUMBERS, JSON_VALUES, allocation_peak, fuzz_settings
from graphs import builtin_registry
from hypothesis import given
from hypothesis import strategies as st

from aers_host.config import GraphConfig, parse_text, validate_config_data
from aers_host.errors import AersError
from aers_host.graph import build_plan

#: Module level, as the strategies below are built at import (the ``registry`` fixture's value).
REGISTRY = builtin_registry()
TYPES = sorted(REGISTRY)
PARAMS = sorted(
    {prop for t in REGISTRY.values() for prop in t.params_schema().get("properties", {})}
)
#: Planning a graph of a few nodes allocates buffers, delay lines and compensation lines,
#: each bounded by a documented limit; a graph that needs more has a bound missing.
PLAN_BOUND = 768 << 20

IDS = st.sampled_from(["a", "b", "c", "out", "src"]) | st.text(max_size=6)
VALUES = EDGE_NUMBERS | JSON_VALUES
NODES = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=8)},
    optional={
        "params": st.dictionaries(
            st.sampled_from(PARAMS) | st.text(max_size=8), VALUES, max_size=4
        ),
        "bypass": VALUES,
        "fallback": VALUES,
        "latency_blocks": VALUES,
    },
)
CONFIGS = st.fixed_dictionaries(
    {
        "version": st.just(1) | VALUES,
        "nodes": st.dictionaries(IDS, NODES, max_size=5),
        "connections": st.lists(
            st.fixed_dictionaries(
                {"from": IDS, "to": IDS},
                optional={
                    "gain_db": VALUES,
                    "port": st.sampled_from(["main", "sidechain"]) | VALUES,
                },
            ),
            max_size=6,
        ),
    },
    optional={
        "sample_rate": st.sampled_from([44100, 48000]) | VALUES,
        "block_size": st.sampled_from([32, 512, 8192]) | VALUES,
        "duration": VALUES,
        "events": st.lists(st.dictionaries(st.text(max_size=8), VALUES, max_size=5), max_size=3),
    },
)


PROCESSORS = sorted(n for n, t in REGISTRY.items() if t.role == "processor" and n != "remote")
#: Mostly valid graphs (sine → one processor → output) whose parameters probe the limits:
#: these get past validation, so planning (where buffers are sized) is fuzzed too.
CHAINS = st.builds(
    lambda kind, params, rate, block: {
        "version": 1,
        "sample_rate": rate,
        "block_size": block,
        "duration": 0.05,
        "nodes": {
            "src": {"type": "sine"},
            "fx": {"type": kind, "params": params},
            "out": {"type": "output"},
        },
        "connections": [{"from": "src", "to": "fx"}, {"from": "fx", "to": "out"}],
    },
    st.sampled_from(PROCESSORS),
    st.dictionaries(st.sampled_from(PARAMS), EDGE_NUMBERS, max_size=3),
    st.sampled_from([44100, 48000]),
    st.sampled_from([32, 512, 8192]),
)


def _dump(document: Any, as_yaml: bool) -> str:
    if as_yaml:
        return yaml.safe_dump(document, allow_unicode=True)
    return json.dumps(document)


def _load(text: str, base_dir: Path) -> GraphConfig | None:
    """The config ``aers validate`` would accept, or None when it refuses it in lines."""
    try:
        return validate_config_data(parse_text(text, "fuzz.yaml"), registry=REGISTRY,
                                    base_dir=base_dir)  # fmt: skip
    except AersError as err:
        assert str(err).strip(), "a refusal must say why"
        return None


@given(document=CONFIGS | CHAINS, as_yaml=st.booleans())
@fuzz_settings()
def test_fuzzed_configs_are_accepted_or_refused_in_lines(
    document: dict[str, Any], as_yaml: bool, tmp_path: Path
) -> None:
    config = _load(_dump(document, as_yaml), tmp_path)
    if config is None:
        return
    with allocation_peak(PLAN_BOUND):
        try:
            plan = build_plan(config, REGISTRY)
        except AersError:
            return
        plan.close()


@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
@fuzz_settings()
def test_fuzzed_config_text_never_crashes_the_loader(text: str, tmp_path: Path) -> None:
    _load(text, tmp_path)


def test_the_cli_maps_a_refused_fuzz_find_to_exit_1(run_cli: Any, tmp_path: Path) -> None:
    """The funnel the fuzzers stand for: a refusal is a line per problem and exit 1."""
    path = tmp_path / "fuzz.json"
    bad = {"type": "delay", "params": {"samples": 10**13}}
    path.write_text(json.dumps({"version": 1, "nodes": {"a": bad}, "connections": []}))
    result = run_cli("validate", path)
    assert result.code == 1 and "Traceback" not in result.out + result.err
    assert "nodes.a.params.samples: 10000000000000 is too large" in result.out
