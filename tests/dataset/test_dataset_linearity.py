"""Which nodes break exact stems: the linearity rule of docs/dataset.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from dataset_scenes import LINEAR, NONLINEAR
from graphs import LoadGraph

from aers_host import default_registry
from aers_host._nodetype import BuiltinNodeType
from aers_host.config import NodeSpec
from aers_host.dataset import NonlinearNode, NonlinearStemsError, event_reach, nonlinear_nodes
from aers_host.errors import GraphError

REGISTRY = default_registry(entry_points=False, store=False)


def test_linear_graph_has_no_nonlinear_nodes(load_graph: LoadGraph) -> None:
    cfg = load_graph(LINEAR)
    assert nonlinear_nodes(cfg, REGISTRY, {"sfx", "dlg", "amb"}) == []


def test_limiter_and_sidechain_keyed_duck_are_named(load_graph: LoadGraph) -> None:
    cfg = load_graph(NONLINEAR)
    found = nonlinear_nodes(cfg, REGISTRY, {"sfx", "dlg", "amb"})
    assert [(n.id, n.type) for n in found] == [("lim", "limiter"), ("duck", "duck")]
    assert "side-chain" in found[1].reason


def test_sidechain_connection_counts_as_reach(load_graph: LoadGraph) -> None:
    # dialogue alone never enters the ducker's main input, only its side-chain
    cfg = load_graph(NONLINEAR)
    assert "duck" in event_reach(cfg, {"dlg"})
    assert [n.id for n in nonlinear_nodes(cfg, REGISTRY, {"dlg"})] == ["duck"]


def test_nonlinear_node_no_event_reaches_is_ignored(load_graph: LoadGraph) -> None:
    cfg = load_graph(NONLINEAR)
    assert "lim" not in event_reach(cfg, {"amb"})
    assert [n.id for n in nonlinear_nodes(cfg, REGISTRY, {"amb"})] == ["duck"]


@pytest.mark.parametrize("option", ["bypass", "mute"])
def test_bypassed_or_muted_nonlinear_node_counts_as_linear(
    load_graph: LoadGraph, option: str
) -> None:
    cfg = load_graph(NONLINEAR)
    nodes = dict(cfg.nodes)
    nodes["lim"] = dataclasses.replace(nodes["lim"], options={option: True})
    assert [n.id for n in nonlinear_nodes(dataclasses.replace(cfg, nodes=nodes), REGISTRY, {"sfx"})] == []


def test_plugin_type_is_of_unknown_linearity(load_graph: LoadGraph) -> None:
    cfg = load_graph(LINEAR)
    nodes = dict(cfg.nodes)
    nodes["eq"] = NodeSpec("eq", "tremolo", {})
    plugin = BuiltinNodeType("tremolo", "processor", "a plugin", REGISTRY["gain"].create, origin="store")
    registry = {**REGISTRY, "tremolo": plugin}  # declares no traits, as a plugin does
    [node] = nonlinear_nodes(dataclasses.replace(cfg, nodes=nodes), registry, {"dlg"})
    assert (node.id, node.reason) == ("eq", "plugin of unknown linearity")


def test_error_names_every_node_and_both_ways_out(tmp_path: Path) -> None:
    err = NonlinearStemsError("g.yaml", [NonlinearNode("lim", "limiter", "level-dependent gain")])
    assert isinstance(err, GraphError)
    assert err.nodes[0].id == "lim"
    text = str(err)
    assert "g.yaml" in text and "lim (limiter: level-dependent gain)" in text
    assert "--stems-residual" in text and "--stems-pre" in text
