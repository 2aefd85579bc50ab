"""metrics.json is described by the JSON Schema shipped in the package (issue 21, item 6).

Real renders (events, a dynamics chain, meters, a file output, a saved session) are checked
against it, and every field it describes has its line in docs/metrics.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aers_host.metrics import metrics_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

GRAPH = """
duration: 0.6
nodes:
  ev: {type: events}
  tone: {type: sine, params: {level_db: -20}}
  silent: {type: sine, params: {level_db: -20}, mute: true}
  comp: {type: compressor}
  lim: {type: limiter}
  m: {type: meter}
  out: {type: output}
  quiet: {type: output}
connections:
  - {from: ev, to: comp}
  - {from: tone, to: comp}
  - {from: comp, to: lim}
  - {from: lim, to: m}
  - {from: m, to: out}
  - {from: silent, to: quiet}
events:
  - {id: boom, category: explosion, at: 100, source: {generator: explosion}}
"""


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(metrics_schema())


@pytest.mark.parametrize("extra", [(), ("--save-session", "s1", "--csv", "series.csv")])
def test_a_real_render_matches_the_schema(
    tmp_path: Path, aers_home: Path, run_cli: Any, extra: tuple[str, ...]
) -> None:
    config = tmp_path / "graph.yaml"
    config.write_text(GRAPH, encoding="utf-8")
    args = [a if not a.endswith(".csv") else str(tmp_path / a) for a in extra]
    result = run_cli("render", config, "--out-dir", tmp_path / "out", *args)
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    jsonschema.Draft202012Validator(metrics_schema()).validate(metrics)
    assert metrics["outputs"]["quiet"]["peak_dbfs"] is None  # silence is null, not -inf
    assert ("session" in metrics) == bool(extra)


def test_the_schema_refuses_what_readers_rely_on_being_there() -> None:
    validator = jsonschema.Draft202012Validator(metrics_schema())
    assert not validator.is_valid({"sample_rate": 48000})
    assert not validator.is_valid({"nodes": {"x": {"type": "gain"}}})


def _fields(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Iterator[str]:
    """Every property name the schema describes (through $refs)."""
    if "$ref" in schema:
        yield from _fields(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    for name, sub in schema.get("properties", {}).items():
        yield name
        yield from _fields(sub, defs)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from _fields(extra, defs)


def test_every_field_is_documented() -> None:
    schema = metrics_schema()
    documented = set(re.findall(r"`([a-z_0-9]+)`", DOC.read_text(encoding="utf-8")))
    missing = sorted(set(_fields(schema, schema["$defs"])) - documented)
    assert missing == []
