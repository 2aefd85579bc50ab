"""The routes and feed fields the dashboard patches with: types, undo, params, scene."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import connect

from aers_host.server._undo import NothingToUndo, diff_ops, undo_ops

from .conftest import Served
from .server_helpers import SCENE, receive_until

Serve = Callable[..., Served]


def settled(served: Served, edits: int, timeout: float = 5.0) -> dict[str, Any]:
    """The graph once ``edits`` edits are live and faded in."""
    deadline = time.monotonic() + timeout
    with served.client() as http:
        while True:
            graph: dict[str, Any] = http.get("/api/graph").json()
            if graph["edits"] >= edits and served.runtime.live.settled:
                return graph
            assert time.monotonic() < deadline, "the edit did not settle"
            time.sleep(0.02)


def edges(graph: dict[str, Any]) -> set[tuple[str, str, float]]:
    return {(e["from"], e["to"], e["gain_db"]) for e in graph["edges"]}


def test_types_list_every_registry_type_with_its_parameter_form(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        types = {t["name"]: t for t in http.get("/api/types").json()["types"]}
    assert set(types) == set(served.runtime.live.registry)
    reverb = types["reverb"]
    assert reverb["role"] == "processor" and reverb["origin"] == "builtin"
    spec = served.runtime.live.registry["reverb"].param_specs()[0]
    for field in ("name", "min", "max", "default", "unit", "doc"):
        assert reverb["params"][0][field] == getattr(spec, field), field
    assert types["compressor"]["sidechain"] and not types["gain"]["sidechain"]
    band_type = types["eq"]["schema"]["properties"]["bands"]["items"]["properties"]["type"]
    assert "peak" in band_type["enum"]  # the page builds the band editor's select from it


def test_undo_reverts_the_last_edit_then_the_one_before(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        start = edges(http.get("/api/graph").json())
        add = [{"op": "add_node", "id": "verb", "type": "reverb", "params": {"wet_level": 0.4}},
               {"op": "connect", "from": "hiss", "to": "verb"},
               {"op": "connect", "from": "verb", "to": "bus", "gain_db": -3}]  # fmt: skip
        assert http.post("/api/edits", json=add).status_code == 200
        settled(served, 1)
        gain = {"op": "set_gain", "from": "eq1", "to": "bus", "gain_db": -9}
        assert http.post("/api/edits", json=gain).status_code == 200
        after_both = edges(settled(served, 2))
        assert ("eq1", "bus", -9.0) in after_both and ("verb", "bus", -3.0) in after_both

        undo = http.post("/api/edits/undo")
        assert undo.status_code == 200, undo.text
        assert undo.json()["edit"] == {"who": "undo", "ops": [
            {"op": "set_gain", "from": "eq1", "to": "bus", "gain_db": 0.0}]}  # fmt: skip
        graph = settled(served, 3)
        assert edges(graph) == after_both - {("eq1", "bus", -9.0)} | {("eq1", "bus", 0.0)}

        assert http.post("/api/edits/undo").status_code == 200
        graph = settled(served, 4)
        assert edges(graph) == start and "verb" not in {n["id"] for n in graph["nodes"]}
        assert http.get("/api/config").json()["nodes"].keys() == {
            "tone", "hiss", "g", "eq1", "bus", "main"}  # fmt: skip

        nothing = http.post("/api/edits/undo")
        assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_to_undo"
        whos = [e["who"] for e in http.get("/api/edits").json()["journal"]]
        assert whos == ["rest", "rest", "undo", "undo"]
        claimed = http.post("/api/edits", params={"who": "undo"}, json=gain)
        assert claimed.status_code == 422 and claimed.json()["code"] == "not_allowed"


def test_undo_of_a_removed_node_brings_back_its_params_and_connections() -> None:
    before = {
        "nodes": {
            "a": {"type": "sine", "params": {"freq": 220}},
            "eq": {"type": "eq", "params": {"bands": [{"type": "peak", "freq": 900}]}},
            "o": {"type": "output"},
        },
        "connections": [{"from": "a", "to": "eq", "gain_db": -3}, {"from": "eq", "to": "o"}],
    }
    journal = [{"who": "rest", "ops": [{"op": "remove_node", "id": "eq"},
                                       {"op": "connect", "from": "a", "to": "o"}]}]  # fmt: skip
    ops = undo_ops(before, journal)
    assert ops == [
        {"op": "disconnect", "from": "a", "to": "o"},
        {"op": "add_node", "id": "eq", "type": "eq",
         "params": {"bands": [{"type": "peak", "freq": 900}]}},
        {"op": "connect", "from": "a", "to": "eq", "gain_db": -3},
        {"op": "connect", "from": "eq", "to": "o"},
    ]  # fmt: skip
    # Reloads do not change the config; an undone edit is not undone twice.
    reload = {"who": "cli", "ops": [{"op": "reload_plugin", "type": "x", "from": "1", "to": "2"}]}
    undone = {"who": "undo", "ops": ops}
    try:
        undo_ops(before, [*journal, reload, undone])
    except NothingToUndo:
        pass
    else:
        raise AssertionError("an undone edit was offered for undo again")


def test_numeric_changes_undo_as_set_param_and_others_as_replace_node() -> None:
    now = {"nodes": {"g": {"type": "gain", "params": {"gain_db": -6}},
                     "e": {"type": "eq", "params": {"bands": [{"type": "peak", "freq": 900}]}}},
           "connections": []}  # fmt: skip
    then = {"nodes": {"g": {"type": "gain", "params": {"gain_db": 0}},
                      "e": {"type": "eq", "params": {"bands": []}}},
            "connections": []}  # fmt: skip
    assert diff_ops(now, then) == [
        {"op": "set_param", "id": "g", "param": "gain_db", "value": 0.0},
        {"op": "replace_node", "id": "e", "type": "eq", "params": {"bands": []}},
    ]


def test_another_clients_param_change_reaches_every_page(serve: Serve) -> None:
    served = serve()
    with connect(served.ws) as page, served.client() as http:
        graph = receive_until(page, "graph")
        gain = next(n for n in graph["nodes"] if n["id"] == "g")
        assert {p["name"]: p["value"] for p in gain["params"]}["gain_db"] == -40.0
        reply = http.post("/api/nodes/g/params", json={"param": "gain_db", "value": -12.5})
        assert reply.status_code == 200
        for _ in range(100):
            msg = receive_until(page, "params")
            if msg["nodes"].get("g", {}).get("gain_db") == -12.5:
                break
        else:
            raise AssertionError("the page never heard of the new value")
        assert http.get("/api/nodes/g/params").json()["gain_db"]["value"] == -12.5


def test_graph_describes_the_scene_and_connections(serve: Serve) -> None:
    served = serve(SCENE)
    with connect(served.ws) as page:
        graph = receive_until(page, "graph")
        frame = receive_until(page, "frame")
    scene = {v["id"]: v for v in graph["scene"]}
    # 0.1 s at 48 kHz from sample 4800; 'time: 0.3' → 14400, lasting 0.05 s.
    assert scene["beep"] == {"id": "beep", "category": "fx", "to": "fx", "at": 4800,
                             "end": 4800 + 4800}  # fmt: skip
    assert (scene["boom"]["at"], scene["boom"]["end"]) == (14400, 14400 + 2400)
    assert all({"delay", "tap"} <= set(e) for e in graph["edges"])
    main = frame["nodes"]["main"]
    assert {"lufs_m", "lufs_s", "true_peak_db"} <= set(main)
    assert "lufs_m" not in frame["nodes"]["g"]
    assert json.dumps(graph)  # plain JSON all the way down


def test_a_manifest_enum_becomes_labelled_choices_for_the_page() -> None:
    from types import SimpleNamespace

    from aers_host.plugins._discovery import param_specs_of
    from aers_host.plugins._model import ManifestParam
    from aers_host.server._messages import spec_info

    manifest = SimpleNamespace(params=[ManifestParam.from_dict({
        "name": "filter_type", "default": 0, "min": 0, "max": 2, "integer": True,
        "enum": [{"value": 0, "label": "peak"}, {"value": 2, "label": "high shelf"}]},
        "signed.params.0")])  # fmt: skip
    (spec,) = param_specs_of(manifest)  # type: ignore[arg-type]
    assert spec.choices == ((0.0, "peak"), (2.0, "high shelf"))
    assert spec_info(spec)["choices"] == [
        {"value": 0.0, "label": "peak"}, {"value": 2.0, "label": "high shelf"}]  # fmt: skip
    assert spec.check(1.0) is None  # labels only: the range check is the loader's as before
