"""Live edits through a real server: REST and WebSocket acks, refusals that change nothing."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from aers_host.errors import SessionError
from aers_host.server import Autosaver, Control, LiveRuntime, Recorder
from aers_host.session import SessionStore

from .conftest import Served
from .server_helpers import receive_until

Serve = Callable[..., Served]

ADD_SEND = [
    {"op": "add_node", "id": "verb", "type": "reverb"},
    {"op": "connect", "from": "tone", "to": "verb", "gain_db": -12},
    {"op": "connect", "from": "verb", "to": "bus"},
]
#: (edit, path of the first problem): one of each kind of refusal.
INVALID: list[tuple[Any, str]] = [
    ({"op": "add_node", "id": "v", "type": "revreb"}, "nodes.v.type"),
    ({"op": "conect", "from": "tone", "to": "bus"}, "edit.0.op"),
    ({"op": "connect", "from": "tone"}, "edit.0"),
    ({"op": "remove_node", "id": "ghost"}, "edit.0.id"),
    ({"op": "disconnect", "from": "tone", "to": "bus"}, "edit.0"),
    ({"op": "connect", "from": "bus", "to": "g"}, "connections.5"),
    ({"op": "set_param", "id": "g", "param": "gain_db", "value": 99}, "nodes.g.params.gain_db"),
    ([], "edit"),
    ([{"op": "add_node", "id": "x", "type": "gain"}, {"op": "connect", "from": "x", "to": "no"}],
     "connections.5.to"),
]  # fmt: skip


def settled(served: Served, edits: int, timeout: float = 5.0) -> dict[str, Any]:
    """The graph once ``edits`` edits have faded in (the graph shows no outgoing copies)."""
    deadline = time.monotonic() + timeout
    with served.client() as http:
        while True:
            graph: dict[str, Any] = http.get("/api/graph").json()
            old = [n["id"] for n in graph["nodes"] if "--old" in n["id"]]
            if graph["edits"] >= edits and not old and served.runtime.live.settled:
                return graph
            assert time.monotonic() < deadline, "the edit did not settle"
            time.sleep(0.02)


def test_rest_edit_is_acked_with_its_sample_and_journalled(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        time.sleep(0.1)
        reply = http.post("/api/edits", params={"who": "tester"}, json=ADD_SEND)
        assert reply.status_code == 200, reply.text
        ack = reply.json()
        assert ack["type"] == "ack" and ack["v"] == 1 and ack["edit"]["who"] == "tester"
        assert ack["edit"]["ops"] == ADD_SEND and ack["sample"] > 0
        assert ack["latency_before"] == ack["latency_after"] == 0
        graph = settled(served, 1)
        assert {"from": "verb", "to": "bus"} in [
            {k: e[k] for k in ("from", "to")} for e in graph["edges"]
        ]
        journal = http.get("/api/edits").json()["journal"]
        assert [(e["who"], e["sample"]) for e in journal] == [("tester", ack["sample"])]
        assert "verb" in http.get("/api/config").json()["nodes"]
        live = http.get("/api/metrics").json()["live"]
        assert live["edits"] == 1 and live["edit_blocks"] >= 2


def test_latency_change_is_reported(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        op = {"op": "replace_node", "id": "g", "type": "limiter", "params": {"lookahead_ms": 2}}
        ack = http.post("/api/edits", json=op).json()
        assert (ack["latency_before"], ack["latency_after"]) == (0, 96)
        assert settled(served, 1)["total_latency"] == 96


@pytest.mark.parametrize(("ops", "path"), INVALID, ids=[p for _, p in INVALID])
def test_invalid_edit_is_refused_whole_and_changes_nothing(
    serve: Serve, ops: Any, path: str
) -> None:
    served = serve()
    with served.client() as http:
        before = http.get("/api/config").json(), http.get("/api/graph").json()["edges"]
        reply = http.post("/api/edits", json=ops)
        assert reply.status_code == 422
        body = reply.json()
        assert (
            body["type"] == "error"
            and body["v"] == 1
            and body["code"]
            in (
                "invalid_edit",
                "edit_refused",
            )
        )
        assert body["problems"] and all(
            set(p) == {"path", "message", "hint"} for p in body["problems"]
        )
        assert body["problems"][0]["path"] == path, body
        after = http.get("/api/config").json(), http.get("/api/graph").json()["edges"]
        assert after == before and http.get("/api/edits").json()["journal"] == []


def test_edit_over_the_websocket(serve: Serve) -> None:
    served = serve()
    with connect(served.ws) as ws, connect(served.ws) as watcher:
        receive_until(ws, "graph")
        receive_until(watcher, "graph")
        ws.send(json.dumps({"v": 1, "type": "edit", "ops": ADD_SEND, "req": 5}))
        ack = receive_until(ws, "ack")
        assert ack["req"] == 5 and ack["edit"]["who"] == "ws" and ack["sample"] > 0
        edited = receive_until(watcher, "edited")
        assert edited["sample"] == ack["sample"] and edited["ops"] == ADD_SEND
        graph = receive_until(watcher, "graph")
        assert "verb" in {n["id"] for n in graph["nodes"]}
        ws.send(json.dumps({"v": 1, "type": "edit", "ops": [{"op": "nope"}], "req": "r2"}))
        error = receive_until(ws, "error")
        assert error["req"] == "r2" and error["problems"][0]["path"] == "edit.0.op"
        ws.send(json.dumps({"v": 1, "type": "edit", "ops": [], "extra": 1}))
        assert receive_until(ws, "error")["code"] == "bad_message"


def test_controls_follow_the_nodes_across_edits(serve: Serve) -> None:
    served = serve()
    with connect(served.ws) as ws, served.client() as http:
        receive_until(ws, "graph")
        ws.send(json.dumps({"v": 1, "type": "solo", "node": "hiss", "value": True}))
        receive_until(ws, "ack")
        ws.send(json.dumps({"v": 1, "type": "mute", "node": "g", "value": True}))
        receive_until(ws, "ack")
        # an added source comes first in the plan: every index moves
        http.post("/api/edits", json=[
            {"op": "add_node", "id": "a0", "type": "sine", "params": {"freq": 100}},
            {"op": "connect", "from": "a0", "to": "bus"},
        ]).raise_for_status()  # fmt: skip
        settled(served, 1)
        nodes = {n["id"]: n for n in http.get("/api/nodes").json()}
        assert nodes["hiss"]["solo"] and nodes["g"]["mute"] and not nodes["tone"]["solo"]
        assert nodes["eq1"]["audible"] and not nodes["tone"]["audible"]
        ws.send(json.dumps({"v": 1, "type": "param", "node": "a0", "param": "level_db",
                            "value": -30, "req": 9}))  # fmt: skip
        assert receive_until(ws, "ack")["req"] == 9


def test_autosave_journals_every_edit_and_the_final_state(
    serve: Serve, tmp_path: Path, make_runtime: Callable[..., LiveRuntime]
) -> None:
    db = tmp_path / "sessions.db"
    holder: dict[str, Autosaver] = {}

    def with_autosave(runtime: LiveRuntime) -> Autosaver:
        holder["saver"] = Autosaver(runtime, "jam", db=db)
        return holder["saver"]

    served = serve(autosave=with_autosave)
    with served.client() as http:
        http.post("/api/edits", json=ADD_SEND).raise_for_status()
        http.post(
            "/api/edits", json={"op": "set_gain", "from": "verb", "to": "bus", "gain_db": -3}
        ).raise_for_status()
    with SessionStore(db) as store:
        session = store.load("jam")
    assert [e["ops"] for e in session.extra["journal"]] == [
        ADD_SEND, [{"op": "set_gain", "from": "verb", "to": "bus", "gain_db": -3}]
    ]  # fmt: skip
    assert session.config["connections"][-1] == {"from": "verb", "to": "bus", "gain_db": -3}
    assert holder["saver"].saved == 2


def test_each_autosave_after_an_edit_holds_every_processor_state(
    serve: Serve, tmp_path: Path
) -> None:
    db = tmp_path / "sessions.db"
    served = serve(autosave=lambda runtime: Autosaver(runtime, "jam", db=db))
    with served.client() as http:
        http.post("/api/edits", json=ADD_SEND).raise_for_status()
        with SessionStore(db) as store:  # still serving: no shutdown save has happened
            session = store.load("jam")
        nodes = {n["id"] for n in http.get("/api/nodes").json()}
    assert set(session.nodes) == nodes and "verb" in nodes
    assert session.nodes["verb"]  # the new reverb's state (its delay lines), not nothing
    assert session.position > 0


def foreign_database(path: Path) -> bytes:
    """Turn ``path`` into another application's SQLite file; return its bytes."""
    import sqlite3

    path.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE customers (name TEXT)")
        other.commit()
    return path.read_bytes()


def test_a_foreign_session_store_is_refused_before_serving(
    make_runtime: Callable[..., LiveRuntime], tmp_path: Path
) -> None:
    db = tmp_path / "sessions.db"
    before = foreign_database(db)
    with pytest.raises(SessionError, match=r"another application.*left untouched"):
        Autosaver(make_runtime(), "jam", db=db)
    assert db.read_bytes() == before


def test_an_edit_whose_autosave_fails_is_live_and_says_so(
    serve: Serve, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "sessions.db"
    served = serve(autosave=lambda runtime: Autosaver(runtime, "jam", db=db))
    with served.client() as http:
        http.post("/api/edits", json=ADD_SEND).raise_for_status()
        before = foreign_database(db)  # the store is replaced while the server runs
        reply = http.post("/api/edits", json={"op": "set_gain", "from": "verb", "to": "bus",
                                              "gain_db": -3})  # fmt: skip
        assert reply.status_code == 200, reply.text
        ack = reply.json()
        assert (
            "not saved" in ack["autosave_error"] and "another application" in ack["autosave_error"]
        )
        assert len(http.get("/api/edits").json()["journal"]) == 2
        assert http.get("/api/config").json()["connections"][-1]["gain_db"] == -3
    assert "warning: session 'jam' not saved" in capfd.readouterr().err
    assert db.read_bytes() == before


def test_recorder_stamps_every_block(
    make_runtime: Callable[..., LiveRuntime], tmp_path: Path
) -> None:
    rt = make_runtime(publish_interval=0.0)
    rt.recorder = Recorder.for_view(rt.view, 1.0)
    rt.run_blocks(3)
    rt.submit(Control("mute", "bus", True))
    rt.run_blocks(1)
    (wav,) = rt.recorder.write(tmp_path / "rec")
    meta = json.loads((tmp_path / "rec" / "main.json").read_text())
    assert meta["blocks"] == [[0, 512, 0], [512, 512, 0], [1024, 512, 0], [1536, 512, 0]]
    import soundfile as sf

    audio, rate = sf.read(wav, dtype="float32")
    assert rate == 48000 and audio.shape == (2048, 2)
    assert np.abs(audio[:1536]).max() > 0 and not np.any(audio[1536:])


def test_an_edit_fading_across_the_loop_point_completes(
    make_runtime: Callable[..., LiveRuntime],
) -> None:
    from .server_helpers import SCENE

    rt = make_runtime(SCENE, publish_interval=0.0)
    rt.run_blocks(46)  # the pass is 24000 samples: 46 blocks of 512, then a short one
    ticket = rt.submit_edit({"op": "set_gain", "from": "g", "to": "main", "gain_db": -6}, "t")
    rt.run_blocks(1)
    assert ticket.sample == 46 * 512
    fading = rt.live.settled
    rt.run_blocks(2)
    assert not fading and rt.loop == 1 and rt.live.settled
    assert rt.plan.config.data["connections"][-1]["gain_db"] == -6
