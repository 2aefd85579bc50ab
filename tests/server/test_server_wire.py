"""The declared messages (``_wire``) against what the server sends and what docs/feed.md says.

A message conforms when pydantic, reading the ``TypedDict``, accepts it *and* gives back
exactly the same object: a missing key, a wrong type or a key the declaration does not
have (pydantic drops it) all fail. The page's examples are held to the same rule, so the
page, the declarations and the server cannot drift apart.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from websockets.sync.client import connect

from aers_host.server import _wire

from .conftest import Served
from .server_helpers import SCENE

Serve = Callable[..., Served]
FEED_MD = Path(__file__).resolve().parents[2] / "docs" / "feed.md"
#: Server → client and client → server messages by ``type`` (``ack`` is told apart below).
BY_TYPE: dict[str, Any] = {
    "graph": _wire.GraphMessage,
    "frame": _wire.FrameMessage,
    "params": _wire.ParamsMessage,
    "event": _wire.EventMessage,
    "edited": _wire.EditedMessage,
    "error": _wire.ErrorMessage,
    "bypass": _wire.FlagMessage,
    "mute": _wire.FlagMessage,
    "solo": _wire.FlagMessage,
    "param": _wire.ParamMessage,
    "edit": _wire.EditMessage,
}


def declared(message: dict[str, Any]) -> Any:
    """The declaration a feed message claims to follow."""
    if message["type"] == "ack":
        return _wire.EditAck if "edit" in message else _wire.ControlAck
    return BY_TYPE[message["type"]]


def assert_conforms(declaration: Any, message: Any) -> None:
    """``message`` has exactly the keys and value types ``declaration`` declares."""
    try:
        checked = TypeAdapter(declaration).validate_python(message)
    except ValidationError as err:
        raise AssertionError(f"{message} is not a {declaration}: {err}") from err
    assert checked == message, f"{message} has keys {declaration} does not declare"


def test_a_message_off_its_declaration_does_not_conform() -> None:
    error = _wire.error_body("bad_json", "not valid JSON")
    assert_conforms(_wire.ErrorMessage, error)
    for broken in ({**error, "extra": 1}, {**error, "req": 1.5}, {**error, "v": 2}):
        with pytest.raises(AssertionError):
            assert_conforms(_wire.ErrorMessage, broken)
    with pytest.raises(AssertionError, match="code"):
        assert_conforms(_wire.ErrorMessage, {k: v for k, v in error.items() if k != "code"})


def test_every_feed_message_matches_its_declaration(serve: Serve) -> None:
    served = serve(SCENE, rate=60)
    seen: dict[str, dict[str, Any]] = {}
    kinds = {"graph", "frame", "params", "event", "ack", "ack edit", "edited", "error"}
    with connect(served.ws) as ws, connect(served.ws) as other:
        other.send(json.dumps({"v": 1, "type": "param", "node": "g", "param": "gain_db",
                               "value": -20, "req": 1}))  # fmt: skip
        ws.send(json.dumps({"v": 1, "type": "mute", "node": "g", "value": True, "req": "m"}))
        ws.send(json.dumps({"v": 1, "type": "param", "node": "g", "param": "nope", "value": 1}))
        ws.send(json.dumps({"v": 1, "type": "edit", "req": 5, "ops": [
            {"op": "add_node", "id": "v", "type": "gain"}, {"op": "connect", "from": "g", "to": "v"},
            {"op": "connect", "from": "v", "to": "main"}]}))  # fmt: skip
        deadline = time.monotonic() + 20
        while kinds - set(seen) and time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=10))
            kind = message["type"] + (" edit" if "edit" in message else "")
            assert_conforms(declared(message), message)
            seen.setdefault(kind, message)
    assert set(seen) >= kinds, f"never received: {kinds - set(seen)}"
    frame = seen["frame"]
    assert {"lufs_m", "lufs_s", "true_peak_db"} <= set(frame["nodes"]["main"])  # a sink's


def test_every_rest_answer_matches_its_declaration(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        assert_conforms(_wire.GraphMessage, http.get("/api/graph").json())
        assert_conforms(list[_wire.NodeDescription], http.get("/api/nodes").json())
        assert_conforms(_wire.NodeDescription, http.get("/api/nodes/g").json())
        assert_conforms(dict[str, _wire.ParamState], http.get("/api/nodes/g/params").json())
        assert_conforms(_wire.TypesMessage, http.get("/api/types").json())
        change = http.post("/api/nodes/g/params", json={"param": "gain_db", "value": -6})
        assert_conforms(_wire.ParamChanged, change.json())
        edit = http.post("/api/edits", json=[
            {"op": "add_node", "id": "v", "type": "gain"}, {"op": "connect", "from": "g", "to": "v"},
            {"op": "connect", "from": "v", "to": "bus"}])  # fmt: skip
        assert_conforms(_wire.EditAck, edit.json())
        assert_conforms(_wire.JournalMessage, http.get("/api/edits").json())
        refusals = [
            http.get("/api/nodes/nope"),
            http.post("/api/nodes/g/params", json={"param": "gain_db", "value": 99}),
            http.post("/api/edits", json={"op": "add_node", "id": "w", "type": "revreb"}),
            http.post("/api/plugins/not-installed/reload"),
            http.delete("/api/graph"),
        ]
        for answer in refusals:
            assert answer.status_code >= 400
            assert_conforms(_wire.ErrorMessage, answer.json())


def feed_md_examples() -> list[dict[str, Any]]:
    """Every JSON message shown on docs/feed.md (a block may hold one per line)."""
    examples: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", FEED_MD.read_text(encoding="utf-8"), re.S):
        try:
            examples.append(json.loads(block))
        except json.JSONDecodeError:  # one message per line
            examples += [json.loads(line) for line in block.splitlines() if line.strip()]
    return examples


def test_every_example_on_the_feed_page_matches_its_declaration() -> None:
    examples = feed_md_examples()
    assert {m["type"] for m in examples} >= set(BY_TYPE) | {"ack"}
    for message in examples:
        assert_conforms(declared(message), message)


def test_the_feed_page_names_every_declared_field() -> None:
    text = FEED_MD.read_text(encoding="utf-8")
    for declaration in vars(_wire).values():
        if isinstance(declaration, type) and hasattr(declaration, "__required_keys__"):
            for key in _wire.keys_of(declaration):
                assert re.search(rf"\b{key}\b", text), (declaration.__name__, key)


def test_the_feed_page_lists_every_rest_operation(serve: Serve) -> None:
    with serve().client() as http:
        spec = http.get("/openapi.json").json()
    served = {(method.upper(), re.sub(r"\{\w+\}", "{}", path))
              for path, operations in spec["paths"].items() for method in operations}  # fmt: skip
    served.add(("GET", "/openapi.json"))
    text = FEED_MD.read_text(encoding="utf-8")
    rest = text[text.index("## REST and metrics") :]
    rows = [line.split("|")[1] for line in rest.splitlines() if line.startswith("| `")]
    listed = {
        (method, re.sub(r"\{\w+\}", "{}", path))
        for row in rows
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\[ ]*)", row)
    }
    assert listed == served
