"""Feed schema v1: every refused client message gets a stable error code, nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aers_host.server import MAX_MESSAGE_BYTES, Control, LiveRuntime, ProtocolError
from aers_host.server import parse_client_message as parse
from aers_host.server._feed import ClientQueue
from aers_host.server._messages import DB_CEILING, frame_body, frame_text, graph_message

Make = Callable[..., LiveRuntime]


def msg(**fields: object) -> str:
    return json.dumps({"v": 1, **fields})


BAD = [
    ("binary", b'{"v":1}', "bad_message"),
    ("none", None, "bad_message"),
    ("oversized", msg(type="mute", node="g", value=True, req="x" * MAX_MESSAGE_BYTES), "too_large"),
    ("multibyte oversized", '"' + "é" * (MAX_MESSAGE_BYTES // 2 + 1) + '"', "too_large"),
    ("not json", "{mute g", "bad_json"),
    ("NaN literal", '{"v":1,"type":"param","node":"g","param":"gain_db","value":NaN}', "bad_json"),
    ("deep nesting", "[" * 2000 + "]" * 2000, "bad_json"),
    ("array", "[1, 2]", "bad_message"),
    ("string", '"mute"', "bad_message"),
    ("no version", json.dumps({"type": "mute", "node": "g", "value": True}), "bad_version"),
    ("version 2", json.dumps({"v": 2, "type": "mute", "node": "g", "value": True}), "bad_version"),
    (
        "version true",
        json.dumps({"v": True, "type": "mute", "node": "g", "value": True}),
        "bad_version",
    ),
    ("unknown type", msg(type="reboot", node="g"), "unknown_type"),
    ("server type", msg(type="ack", node="g"), "unknown_type"),
    ("extra key", msg(type="mute", node="g", value=True, force=1), "bad_message"),
    ("bad req", msg(type="mute", node="g", value=True, req=[1]), "bad_message"),
    ("unknown node", msg(type="mute", node="nope", value=True), "unknown_node"),
    ("node not string", msg(type="mute", node=3, value=True), "unknown_node"),
    ("bypass a source", msg(type="bypass", node="tone", value=True), "not_allowed"),
    ("bypass a sink", msg(type="bypass", node="main", value=True), "not_allowed"),
    ("flag as number", msg(type="mute", node="g", value=1), "bad_value"),
    ("flag missing", msg(type="solo", node="g"), "bad_value"),
    ("unknown param", msg(type="param", node="g", param="drive", value=1.0), "unknown_param"),
    (
        "param on node without params",
        msg(type="param", node="main", param="x", value=1),
        "unknown_param",
    ),
    ("value string", msg(type="param", node="g", param="gain_db", value="-6"), "bad_value"),
    ("value bool", msg(type="param", node="g", param="gain_db", value=True), "bad_value"),
    ("below range", msg(type="param", node="g", param="gain_db", value=-121), "out_of_range"),
    ("above range", msg(type="param", node="g", param="gain_db", value=24.5), "out_of_range"),
    (
        "huge int",
        '{"v":1,"type":"param","node":"g","param":"gain_db","value":' + "9" * 400 + "}",
        "out_of_range",
    ),
    (
        "overflow float",
        '{"v":1,"type":"param","node":"g","param":"gain_db","value":1e999}',
        "out_of_range",
    ),
]


@pytest.mark.parametrize(("raw", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_message_is_refused_with_a_code(make_runtime: Make, raw: object, code: str) -> None:
    rt = make_runtime()
    with pytest.raises(ProtocolError) as info:
        parse(raw, rt)  # type: ignore[arg-type]
    assert info.value.code == code, info.value.message
    assert info.value.message


def test_req_is_echoed_in_errors(make_runtime: Make) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(msg(type="mute", node="nope", value=True, req="r-1"), make_runtime())
    assert info.value.req == "r-1"


def test_valid_messages_become_controls(make_runtime: Make) -> None:
    rt = make_runtime()
    assert parse(msg(type="bypass", node="g", value=True, req=3), rt) == Control(
        "bypass", "g", True, req=3
    )
    control = parse(msg(type="param", node="g", param="gain_db", value=-6), rt)
    assert control == Control("param", "g", -6.0, param="gain_db")
    assert isinstance(control.value, float)


def test_graph_message_lists_nodes_layers_edges(make_runtime: Make) -> None:
    rt = make_runtime()
    graph = graph_message(rt, 30.0)
    layers = {n["id"]: n["layer"] for n in graph["nodes"]}
    assert layers == {"tone": 0, "hiss": 0, "g": 1, "eq1": 1, "bus": 2, "main": 3}
    assert {(e["from"], e["to"]) for e in graph["edges"]} >= {("tone", "g"), ("bus", "main")}
    g = next(n for n in graph["nodes"] if n["id"] == "g")
    assert g["can_bypass"] and {p["name"] for p in g["params"]} >= {"gain_db"}
    json.dumps(graph, allow_nan=False)


def test_frame_text_is_valid_json_with_the_drop_count(make_runtime: Make) -> None:
    rt = make_runtime(publish_interval=0.0)
    rt.run_blocks(2)
    assert rt.snapshot is not None
    frame = json.loads(frame_text(frame_body(rt, rt.snapshot), 5))
    assert frame["v"] == 1 and frame["type"] == "frame" and frame["dropped"] == 5
    assert frame["nodes"]["tone"]["peak_db"] == [-6.0, -6.0]
    assert -40 < frame["nodes"]["main"]["peak_db"][0] < -20
    assert set(frame) >= {"seq", "sample", "loop", "block_us", "cpu", "xruns", "events_in_flight"}


def test_silence_reads_as_the_floor(make_runtime: Make) -> None:
    rt = make_runtime(publish_interval=0.0)
    rt.submit(Control("mute", "tone", True))
    rt.run_blocks(1)
    assert rt.snapshot is not None
    frame = json.loads(frame_body(rt, rt.snapshot))
    assert frame["nodes"]["tone"]["peak_db"] == [-120.0, -120.0]
    assert np.isfinite(frame["nodes"]["tone"]["rms_db"]).all()


def test_client_queue_drops_oldest_frames_only() -> None:
    q = ClientQueue(max_frames=2, max_total=5)
    q.put('{"a":1}', frame=True)
    q.put("ack", frame=False)
    q.put('{"a":2}', frame=True)
    q.put('{"a":3}', frame=True)
    assert q.dropped == 1 and len(q) == 3
    items = [q._items[i][1] for i in range(len(q))]
    assert items == ["ack", '{"a":2}', '{"a":3}']
    for i in range(10):
        q.put(f"e{i}", frame=False)
    assert len(q) == 5 and q.dropped == 1 + 8


def test_frame_counts_nonfinite_blocks_where_they_appear(make_runtime: Make, tmp_path: Path) -> None:
    huge = np.full((4800, 2), 3e38, np.float32)  # finite, but +12 dB overflows to inf
    sf.write(tmp_path / "huge.wav", huge, 48_000, subtype="FLOAT")
    rt = make_runtime(
        "version: 1\nblock_size: 480\nnodes:\n"
        "  src: {type: file, params: {path: huge.wav}}\n"
        "  g: {type: gain, params: {gain_db: 12, smoothing_ms: 0}}\n"
        "  main: {type: output}\n"
        "connections:\n  - {from: src, to: g}\n  - {from: g, to: main}\n",
        publish_interval=0.0,
    )
    rt.run_blocks(3)
    assert rt.snapshot is not None
    frame = json.loads(frame_body(rt, rt.snapshot))
    assert frame["nodes"]["g"]["nonfinite_blocks"] == 3
    assert frame["nodes"]["src"]["nonfinite_blocks"] == 0
    assert frame["nodes"]["main"]["nonfinite_blocks"] == 0
    # the bypass fallback passes the huge input on: its square overflows the meters, yet the
    # frame still encodes (no Infinity) and reads at the ceiling
    assert frame["nodes"]["main"]["rms_db"] == [DB_CEILING, DB_CEILING]
    assert frame["nodes"]["main"]["true_peak_db"] <= DB_CEILING
