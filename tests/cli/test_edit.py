"""``aers edit`` against a real ``aers serve``: JSON and shorthand ops, acks, refusals."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server.live_server import aers_serve

from aers_host.cli._edit import EditError, parse_ops

CONFIG = """
    version: 1
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -6, channels: 1}}
      hum:  {type: sine, params: {freq: 110, level_db: -20, channels: 1}}
      bus:  {type: mix}
      main: {type: output}
    connections:
      - {from: tone, to: bus}
      - {from: bus, to: main}
"""
TOKEN = "cli-edit-token-0123456789"


@pytest.fixture
def server(tmp_path: Path, aers_home: Path) -> Iterator[str]:
    path = tmp_path / "live.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    with aers_serve(path, "--token", TOKEN) as url:
        yield url


def journal(url: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{url}/api/edits", headers={"authorization": f"Bearer {TOKEN}"})
    entries: list[dict[str, Any]] = reply.json()["journal"]
    return entries


def config(url: str) -> dict[str, Any]:
    reply = httpx.get(f"{url}/api/config", headers={"authorization": f"Bearer {TOKEN}"})
    data: dict[str, Any] = reply.json()
    return data


def test_shorthand_and_json_edits_are_acked(server: str, run_cli: Callable[..., Any]) -> None:
    done = run_cli("edit", server, "connect", "hum", "bus", "--gain-db", "-6", "--token", TOKEN)
    assert done.code == 0, done.err
    assert done.out.startswith("✓ edit live at sample ")
    ops = [
        json.dumps({"op": "add_node", "id": "g", "type": "gain", "params": {"gain_db": -3}}),
        json.dumps([{"op": "connect", "from": "tone", "to": "g"},
                    {"op": "connect", "from": "g", "to": "main"}]),
    ]  # fmt: skip
    as_json = run_cli("edit", server, *ops, "--token", TOKEN, "--json")
    assert as_json.code == 0, as_json.err
    ack = json.loads(as_json.out)
    assert ack["type"] == "ack" and len(ack["edit"]["ops"]) == 3
    negative = run_cli("edit", server, "set-gain", "hum", "bus", "-12", "--token", TOKEN)
    assert negative.code == 0, negative.err
    entries = journal(server)
    assert [e["who"] for e in entries] == ["cli", "cli", "cli"]
    assert entries[0]["ops"] == [{"op": "connect", "from": "hum", "to": "bus", "gain_db": -6.0}]
    assert entries[2]["ops"] == [{"op": "set_gain", "from": "hum", "to": "bus", "gain_db": -12}]
    assert entries[0]["sample"] < entries[1]["sample"] < entries[2]["sample"]
    # the announced server (serve.json) is found with "-", token included
    done = run_cli("edit", "-", "remove-node", "g")
    assert done.code == 0, done.err
    assert "g" not in config(server)["nodes"]


def test_refused_edit_prints_each_problem_and_changes_nothing(
    server: str, run_cli: Callable[..., Any]
) -> None:
    before = config(server)
    bad = json.dumps([{"op": "add_node", "id": "x", "type": "gian"},
                      {"op": "connect", "from": "x", "to": "nowhere"}])  # fmt: skip
    result = run_cli("edit", server, bad, "--token", TOKEN)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) >= 2 and all(line.startswith("error: ") for line in lines)
    assert any("nodes.x.type" in line and "gain" in line for line in lines)
    assert any("nowhere" in line for line in lines)
    assert config(server) == before and journal(server) == []
    denied = run_cli("edit", server, "remove-node", "hum", "--token", "wrong-token-0123456789")
    assert denied.code == 1 and "401" in denied.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["connect", "a", "b"], [{"op": "connect", "from": "a", "to": "b"}]),
        (["disconnect", "a", "b"], [{"op": "disconnect", "from": "a", "to": "b"}]),
        (["remove-node", "a"], [{"op": "remove_node", "id": "a"}]),
        (["set-param", "g", "gain_db", "-6.5"],
         [{"op": "set_param", "id": "g", "param": "gain_db", "value": -6.5}]),
        (["add-node", "v", "reverb", "mix=0.3", "name=hall"],
         [{"op": "add_node", "id": "v", "type": "reverb",
           "params": {"mix": 0.3, "name": "hall"}}]),
        (["replace-node", "g", "limiter"], [{"op": "replace_node", "id": "g", "type": "limiter"}]),
    ],
)  # fmt: skip
def test_shorthand_grammar(args: list[str], expected: list[dict[str, Any]]) -> None:
    assert parse_ops(args, None, None, None) == expected


def test_connect_options_and_malformed_shorthand() -> None:
    ops = parse_ops(["connect", "a", "b"], -3.0, "sidechain", "pre")
    assert ops == [{"op": "connect", "from": "a", "to": "b", "gain_db": -3.0,
                    "port": "sidechain", "tap": "pre"}]  # fmt: skip
    for bad in (["frob"], ["connect", "a"], ["add-node", "v", "gain", "novalue"], ["{nope"], []):
        with pytest.raises(EditError):
            parse_ops(bad, None, None, None)
