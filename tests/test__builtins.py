"""The built-ins are one list; adding a type is one file plus one registration.

The toy type below is written to a module of its own, as a contributor would write it
(CONTRIBUTING.md, "Add a built-in node type"), and registered by adding it to
``BUILTIN_TYPES`` — nothing else changes. The host must then validate it (schema and
traits), plan it, render it sample-exactly, meter it, list it and reserve its name.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from aers_host import _builtins, builtin_names, default_registry, load_config
from aers_host.dataset import nonlinear_nodes
from aers_host.errors import ConfigError

TOY_MODULE = '''
"""The ``flip`` node: polarity inversion, scaled by ``amount``."""

from aers_host._nodetype import BuiltinNodeType, NodeTraits
from aers_host._processor import ParamSpec, ProcessorBase


class Flip(ProcessorBase):
    PARAMS = (ParamSpec("amount", 1.0, 0.0, 1.0, "", "how much of the inverted signal"),)

    def render(self, inp, out, start):
        """[audio-thread & processing] out = -amount * in."""
        out[:] = inp * -self.values["amount"]


FLIP = BuiltinNodeType(
    name="flip",
    role="processor",
    summary="polarity flip",
    factory=lambda params, ctx: Flip(**params),
    specs=Flip.PARAMS,
    traits=NodeTraits(linear=True, metered=True),
)
'''

GRAPH = """
sample_rate: 48000
block_size: 64
duration: 0.01
nodes:
  click: {type: impulse, params: {at: 100, channels: 1}}
  f: {type: flip, params: {amount: AMOUNT}}
  out: {type: output}
connections:
  - {from: click, to: f}
  - {from: f, to: out}
"""


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The toy's own file, importable, and its one registration."""
    (tmp_path / "toy_flip.py").write_text(TOY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    module = importlib.import_module("toy_flip")
    monkeypatch.setattr(_builtins, "BUILTIN_TYPES", (*_builtins.BUILTIN_TYPES, module.FLIP))
    yield module.FLIP
    sys.modules.pop("toy_flip", None)


def graph(tmp_path: Path, amount: float) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(GRAPH.replace("AMOUNT", str(amount)), encoding="utf-8")
    return path


def test_a_toy_builtin_is_validated_by_its_schema(toy: Any, tmp_path: Path) -> None:
    assert load_config(graph(tmp_path, 0.5)).nodes["f"].type == "flip"
    with pytest.raises(ConfigError, match=r"nodes\.f\.params\.amount"):
        load_config(graph(tmp_path, 2.0))


def test_a_toy_builtin_is_planned_rendered_and_metered(
    toy: Any, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("render", graph(tmp_path, 0.5), "--out-dir", tmp_path / "out")
    assert result.code == 0, result.err
    audio, rate = sf.read(tmp_path / "out" / "out.wav", dtype="float32", always_2d=True)
    expected = np.zeros_like(audio)
    expected[100, 0] = -0.5  # the impulse at sample 100, flipped and halved
    assert rate == 48000 and np.array_equal(audio, expected)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    metered = metrics["outputs"]["f"]  # a metered type is measured without being asked for
    assert metered["peak_dbfs"] == pytest.approx(20 * np.log10(0.5))
    assert "click" not in metrics["outputs"]


def test_a_toy_builtin_is_listed_reserved_and_its_traits_are_read(
    toy: Any, tmp_path: Path, run_cli: Callable[..., Any]
) -> None:
    rows = {r["name"]: r for r in json.loads(run_cli("plugin", "list", "--json").out)}
    assert rows["flip"]["source"] == "builtin"
    assert "flip" in builtin_names()
    registry = default_registry(entry_points=False, store=False)
    assert registry["flip"] is toy and "flip" in registry.reserved
    config = load_config(graph(tmp_path, 1.0), registry=registry)
    assert nonlinear_nodes(config, registry, {"f"}) == []  # linear: exact stems may pass it


def test_every_builtin_is_registered_once_and_in_the_documented_order() -> None:
    names = [t.name for t in _builtins.BUILTIN_TYPES]
    assert len(names) == len(set(names))
    assert list(default_registry(entry_points=False, store=False)) == names
    assert builtin_names() == frozenset(names)


def test_names_written_where_the_type_cannot_be_imported_agree_with_it() -> None:
    from aers_host.device._bridge import INPUT_TYPE, OUTPUT_TYPE
    from aers_host.graph._input import INPUT
    from aers_host.graph._sinks import OUTPUT

    assert (INPUT.name, OUTPUT.name) == (INPUT_TYPE, OUTPUT_TYPE)


def test_each_trait_list_is_derived_from_the_types() -> None:
    registry = default_registry(entry_points=False, store=False)

    def having(trait: Callable[[Any], object]) -> set[str]:
        return {name for name, t in registry.items() if trait(t.traits)}

    # what docs/config.md says of each built-in, checked against what the types declare
    assert having(lambda t: t.sidechain) == {"compressor", "duck"}
    assert having(lambda t: t.feedback_delay) == {"delay"}
    assert having(lambda t: t.metered) == {"mix", "events", "duck", "meter"}
    assert having(lambda t: t.linear) == {
        "gain", "eq", "delay", "pan", "mix", "reverb", "meter", "output", "events"
    }  # fmt: skip
    assert having(lambda t: t.ends) == {"file"}
