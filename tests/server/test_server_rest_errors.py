"""REST and control refusals: node checks on controls, the error body, body caps, authors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphs import Registry
from websockets.sync.client import connect

from aers_host import load_config
from aers_host.errors import ConfigError
from aers_host.server import _body

from .conftest import Served
from .server_helpers import DEMO, receive_until, write_config

Serve = Callable[..., Served]
ERROR_KEYS = {"v", "type", "code", "message", "req"}


def _is_error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the feed's ``error`` body with ``status`` and ``code``."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= ERROR_KEYS, body
    assert body["v"] == 1 and body["type"] == "error" and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert "detail" not in body
    return body


def _nyquist_message(registry: Registry, tmp_path: Path) -> str:
    """What the config validator says about ``tone``'s freq 30000 on this 48 kHz graph."""
    text = DEMO.replace("freq: 440", "freq: 30000")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text, "nyquist.yaml"), registry=registry)
    [problem] = caught.value.problems
    assert problem.path == "nodes.tone.params.freq"
    return problem.message


# ------------------------------------------------------------------ 1. node checks


def test_ws_param_control_runs_the_node_types_checks(
    registry: Registry, serve: Serve, tmp_path: Path
) -> None:
    served = serve()
    expected = _nyquist_message(registry, tmp_path)
    with connect(served.ws, max_size=None) as ws:
        receive_until(ws, "graph")
        bad = {"v": 1, "type": "param", "node": "tone", "param": "freq", "value": 30000}
        ws.send(json.dumps({**bad, "req": 3}))
        error = receive_until(ws, "error")
        assert error["code"] == "out_of_range" and error["req"] == 3
        assert error["message"] == expected  # the config validator's words
        assert "sample_rate" in error["hint"]
        ws.send(json.dumps({**bad, "value": 23999, "req": 4}))
        ack = receive_until(ws, "ack")
        assert ack["req"] == 4 and ack["value"] == 23999
        ws.send(json.dumps({**bad, "value": 24000, "req": 5}))
        assert receive_until(ws, "error")["code"] == "out_of_range"
    with served.client() as http:
        assert http.get("/api/nodes/tone/params").json()["freq"]["value"] == 23999


def test_rest_param_change_runs_the_node_types_checks(
    registry: Registry, serve: Serve, tmp_path: Path
) -> None:
    served = serve()
    expected = _nyquist_message(registry, tmp_path)
    with served.client() as http:
        refused = http.post("/api/nodes/tone/params", json={"param": "freq", "value": 30000})
        body = _is_error(refused, 422, "out_of_range")
        assert body["message"] == expected
        assert http.get("/api/nodes/tone/params").json()["freq"]["value"] == 440.0
        # a set_param edit says the same
        edit = {"op": "set_param", "id": "tone", "param": "freq", "value": 30000}
        answer = http.post("/api/edits", json=edit).json()
        assert answer["code"] == "invalid_edit" and answer["message"] == expected
        assert served.runtime.live.journal == []
        done = http.post("/api/nodes/tone/params", json={"param": "freq", "value": 1000})
        assert done.status_code == 200, done.text


def test_node_check_reports_only_what_the_new_value_brings(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A problem the node already had (a file gone since start) does not block a control."""
    from aers_host._nodetype import ParamIssue
    from aers_host.server import _messages

    served = serve()
    node_type = served.runtime.live.registry["gain"]
    stale = ParamIssue("path", "the file is gone")

    class Checked:
        def __getattr__(self, name: str) -> Any:
            return getattr(node_type, name)

        def check(self, params: Any, ctx: Any) -> list[ParamIssue]:
            assert ctx.node_id == "g" and ctx.sample_rate == 48000
            issues = [stale]
            if params["gain_db"] > params["smoothing_ms"] + 6:
                issues.append(ParamIssue("gain_db", "gain_db exceeds smoothing_ms + 6"))
            return issues

    registry = {**served.runtime.live.registry, "gain": Checked()}
    monkeypatch.setattr(served.runtime.live, "registry", registry)
    view = served.runtime.view
    assert _messages.node_check(served.runtime, view, "g", "gain_db", -3.0) is None
    issue = _messages.node_check(served.runtime, view, "g", "gain_db", 12.0)
    assert issue is not None and issue.message == "gain_db exceeds smoothing_ms + 6"


# ------------------------------------------------------------------ 2. error bodies


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "code"),
    [
        ("POST", "/api/nodes/g/params", {"content": b"{bad", "json_type": True}, 400, "bad_json"),
        ("POST", "/api/nodes/g/params", {"content": b'{"value": NaN}', "json_type": True},
         400, "bad_json"),
        ("POST", "/api/nodes/g/params", {"json": {"param": "gain_db"}}, 422, "bad_message"),
        ("POST", "/api/nodes/g/params", {"json": {}}, 422, "bad_message"),
        ("POST", "/api/nodes/g/params", {"json": [1, 2]}, 422, "bad_message"),
        ("POST", "/api/nodes/g/params", {}, 422, "bad_message"),
        ("POST", "/api/nodes/g/params",
         {"content": b'{"param": "gain_db", "value": -6}',
          "headers": {"content-type": "text/plain"}}, 415, "bad_message"),
        ("POST", "/api/nodes/g/params", {"json": {"param": "gain_db", "value": "-6"}},
         422, "bad_value"),
        ("POST", "/api/nodes/g/params", {"json": {"param": "gain_db", "value": True}},
         422, "bad_value"),
        ("POST", "/api/nodes/g/params", {"json": {"param": "drive", "value": 1}},
         422, "unknown_param"),
        ("POST", "/api/nodes/nope/params", {"json": {"param": "x", "value": 1}},
         404, "unknown_node"),
        ("GET", "/api/nodes/nope", {}, 404, "unknown_node"),
        ("GET", "/api/nope", {}, 404, "not_found"),
        ("DELETE", "/api/graph", {}, 405, "method_not_allowed"),
        ("POST", "/api/edits?who=" + "x" * 65, {"json": {"op": "remove_node", "id": "g"}},
         422, "bad_message"),
        ("POST", "/api/edits?who=bad%20name", {"json": {"op": "remove_node", "id": "g"}},
         422, "bad_message"),
        ("POST", "/api/edits", {"content": b"[", "json_type": True}, 400, "bad_json"),
        ("POST", "/api/edits",
         {"content": b'{"op": "remove_node", "id": "g"}',
          "headers": {"content-type": "text/plain"}}, 415, "bad_message"),
        ("POST", "/api/plugins/x/reload?who=" + "y" * 65, {}, 422, "bad_message"),
    ],
)  # fmt: skip
def test_rest_errors_use_the_feed_error_body(
    serve: Serve, method: str, path: str, options: dict[str, Any], status: int, code: str
) -> None:
    served = serve()
    options = dict(options)
    if options.pop("json_type", False):
        options["headers"] = {"content-type": "application/json"}
    with served.client() as http:
        _is_error(http.request(method, path, **options), status, code)
        assert http.get("/api/nodes/g/params").json()["gain_db"]["value"] == -40.0
        assert http.get("/api/edits").json()["journal"] == []


def test_query_errors_name_the_parameter(serve: Serve) -> None:
    with serve().client() as http:
        answer = http.post("/api/edits?who=" + "x" * 65, json={"op": "remove_node", "id": "g"})
        assert "who" in _is_error(answer, 422, "bad_message")["message"]


# ------------------------------------------------------------------ 3. keys and size


def test_rest_refuses_unknown_keys_like_the_websocket(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        for body in (
            {"param": "gain_db", "value": -6, "extra": 1},
            {"param": "gain_db", "value": -6, "node": "tone"},
            {"param": "gain_db", "value": -6, "v": 1},
        ):
            answer = http.post("/api/nodes/g/params", json=body)
            assert "unknown keys" in _is_error(answer, 422, "bad_message")["message"]
        answer = http.post("/api/plugins/x/reload", json={"extra": 1})
        _is_error(answer, 422, "bad_message")
        assert http.get("/api/nodes/g/params").json()["gain_db"]["value"] == -40.0
        assert http.get("/api/nodes/tone/params").json()["freq"]["value"] == 440.0


def test_rest_bodies_are_capped(serve: Serve) -> None:
    served = serve()
    cap = _body.MAX_BODY_BYTES
    assert cap == 1 << 20
    with served.client() as http:
        small = json.dumps({"param": "gain_db", "value": -6}).encode()
        padded = small[:-1] + b" " * (cap - len(small)) + b"}"
        assert len(padded) == cap  # exactly at the cap: accepted
        done = http.post("/api/nodes/g/params", content=padded,
                         headers={"content-type": "application/json"})  # fmt: skip
        assert done.status_code == 200, done.text
    # A client that writes its whole body before reading gets the 413, not a reset: the
    # server drains the refused body (up to MAX_DRAIN_BYTES) before it closes.
    for path in ("/api/nodes/g/params", "/api/edits"):
        with served.client() as http:  # a fresh connection: the server closes after a 413
            big = b'{"param": "gain_db", "value": -1' + b" " * (20 << 20) + b"}"
            answer = http.post(path, content=big, headers={"content-type": "application/json"})
            _is_error(answer, 413, "too_large")
            assert answer.headers["connection"] == "close"
    with served.client() as http:  # no Content-Length: read only up to the cap
        answer = http.post(
            "/api/nodes/g/params",
            content=_chunks(cap + 10),
            headers={"content-type": "application/json"},
        )
        _is_error(answer, 413, "too_large")
    with served.client() as http:
        assert http.get("/api/nodes/g/params").json()["gain_db"]["value"] == -6.0


def test_oversized_content_length_is_refused_before_the_body_is_read(serve: Serve) -> None:
    """Raw HTTP: the 413 comes back while the client has sent no byte of its 20 MB body."""
    import socket

    served = serve()
    host, port = served.http.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /api/edits HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 20971520\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["code"] == "too_large"


@pytest.mark.security
def test_a_client_writing_an_oversized_body_reads_the_413_not_a_reset(serve: Serve) -> None:
    """Raw HTTP: the whole 8 MiB body is written, then the answer read (was: ECONNRESET).

    The server answers early; closing with the body unread made the kernel reset the
    connection, so the client lost the answer. The refused body is now drained first.
    """
    import socket

    served = serve()
    host, port = served.http.removeprefix("http://").split(":")
    body = b" " * (8 << 20)
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            b"POST /api/edits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(text)["code"] == "too_large"


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"param": "gain_db", "value": -1'
    sent = 0
    while sent < total:
        yield b" " * 65536
        sent += 65536
    yield b"}"


# ------------------------------------------------------------------ 4. reserved authors


@pytest.mark.parametrize("who", ["rollback", "Rollback", "ws", "reload"])
def test_reserved_journal_authors_cannot_be_claimed(serve: Serve, who: str) -> None:
    served = serve()
    edit = {"op": "set_param", "id": "g", "param": "gain_db", "value": -3}
    with served.client() as http:
        answer = http.post(f"/api/edits?who={who}", json=edit)
        assert "reserved" in _is_error(answer, 422, "not_allowed")["message"]
        assert http.get("/api/edits").json()["journal"] == []
        for allowed in ("rest", "cli", "alice@desk"):
            done = http.post(f"/api/edits?who={allowed}", json=edit)
            assert done.status_code == 200, done.text
        authors = [e["who"] for e in http.get("/api/edits").json()["journal"]]
        assert authors == ["rest", "cli", "alice@desk"]


@pytest.mark.parametrize("who", ["rollback", "ws", "rest"])
def test_reload_refuses_reserved_authors(serve: Serve, who: str) -> None:
    with serve().client() as http:
        answer = http.post(f"/api/plugins/acme/reload?who={who}", json={})
        _is_error(answer, 422, "not_allowed")


def test_reload_takes_an_empty_object_or_nothing(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI posts ``{}``; an empty body is fine too (both then reach the store)."""
    monkeypatch.setenv("AERS_HOME", str(tmp_path / "home"))
    with serve().client() as http:
        for options in ({"json": {}}, {}):
            answer = http.post("/api/plugins/acme/reload?who=cli", **options)
            _is_error(answer, 422, "verification_failed")
