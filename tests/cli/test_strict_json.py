"""Every JSON file AERS writes parses in strict readers: no NaN or Infinity literals."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aers_host._json import dumps

SILENT_AND_SHORT = """
    duration: 0.5
    nodes:
      tone: {type: sine, params: {freq: 440}}
      quiet: {type: gain, mute: true}
      main: {type: output}
      loud: {type: output}
    connections:
      - {from: tone, to: quiet}
      - {from: quiet, to: main}
      - {from: tone, to: loud}
"""


def strict_load(text: str) -> Any:
    """json.loads that refuses NaN/Infinity, as JavaScript's JSON.parse does."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_metrics_json_of_a_silent_short_render_is_strict(
    tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    config = tmp_path / "g.yaml"
    config.write_text(textwrap.dedent(SILENT_AND_SHORT).lstrip(), encoding="utf-8")
    result = run_cli("render", config, "--out-dir", tmp_path / "o", "--json")
    assert result.code == 0, result.err
    printed = strict_load(result.out)
    written = strict_load((tmp_path / "o" / "metrics.json").read_text())
    main = written["outputs"]["main"]
    assert main["peak_dbfs"] is None  # silence: -inf dBFS has no JSON form
    assert written["outputs"]["loud"]["short_term_max_lufs"] is None  # no 3 s window yet
    assert written["outputs"]["loud"]["peak_dbfs"] == pytest.approx(-12.0, abs=0.5)
    assert printed["outputs"]["main"]["peak_dbfs"] is None


def test_dumps_writes_null_for_every_non_finite_value() -> None:
    import numpy as np

    value = {"a": [float("nan"), np.float32("inf")], "b": np.array([1.5, -np.inf]), "c": 2}
    assert strict_load(dumps(value)) == {"a": [None, None], "b": [1.5, None], "c": 2}
