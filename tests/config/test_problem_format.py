"""Every problem `aers validate` prints is located: FILE:LINE: path: message (hint)."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_helpers import problems, write

from aers_host import load_config
from aers_host.config import MAX_CONFIG_BYTES
from aers_host.errors import ConfigError, Problem
from aers_host.events import events_for_config


def event_problems(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        events_for_config(load_config(path))
    return info.value.problems


DUPLICATES_JSON = """
{
  "version": 1,
  "nodes": {
    "tone": {"type": "sine"},
    "main": {
      "type": "output",
      "params": {"path": "a.wav",
                 "path": "b.wav"}
    },
    "tone": {"type": "noise"}
  },
  "connections": [{"from": "tone", "to": "main"}]
}
"""


def test_json_duplicate_keys_have_line_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, DUPLICATES_JSON, "dup.json")
    assert problems(path) == [
        Problem(
            str(path),
            8,
            "nodes.main.params.path",
            "duplicate key 'path'",
            "first given on line 7; keep only one",
        ),
        Problem(
            str(path),
            10,
            "nodes.tone",
            "duplicate node id 'tone'",
            "first defined on line 4; give each node its own id",
        ),
    ]


def test_json_duplicate_keys_inside_lists_and_tricky_strings(tmp_path: Path) -> None:
    text = (
        '{"nodes": {"a\\"}": {"type": "sine"}},\n'
        ' "connections": [{"from": "x,{", "to": "y"},\n'
        '                 {"from": "a", "to": "b", "to": "c"}]}\n'
    )
    path = write(tmp_path, text, "dup.json")
    assert problems(path) == [
        Problem(
            str(path),
            3,
            "connections.1.to",
            "duplicate key 'to'",
            "first given on line 3; keep only one",
        )
    ]


def test_yaml_and_json_duplicates_read_the_same(tmp_path: Path) -> None:
    yaml_path = write(tmp_path, "nodes:\n  tone: {type: sine}\n  tone: {type: sine}\n")
    json_path = write(
        tmp_path,
        '{"nodes": {\n  "tone": {"type": "sine"},\n  "tone": {"type": "sine"}}}\n',
        "g.json",
    )
    (from_yaml,) = problems(yaml_path)
    (from_json,) = problems(json_path)
    expected = (
        "nodes.tone",
        3,
        "duplicate node id 'tone'",
        "first defined on line 2; give each node its own id",
    )
    assert (from_yaml.path, from_yaml.line, from_yaml.message, from_yaml.hint) == expected
    assert (from_json.path, from_json.line, from_json.message, from_json.hint) == expected


EVENTS = """
    version: 1
    nodes:
      sfx: {type: events}
      main: {type: output}
    connections:
      - {from: sfx, to: main}
    routing:
      dialogue: nowhere
"""


def test_routing_to_a_missing_node_is_located_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text(
        '{"id": "b", "category": "other", "time": 0, "source": {"generator": "impulse"}}\n',
        encoding="utf-8",
    )
    path = write(tmp_path, EVENTS + "    scene: s.jsonl\n")
    # once, at the config's `routing.dialogue` line (not once more under the scene's name)
    assert event_problems(path) == [
        Problem(str(path), 8, "routing.dialogue", "target node 'nowhere' does not exist", "")
    ]


def test_missing_scene_names_the_config_and_its_scene_line(tmp_path: Path) -> None:
    path = write(tmp_path, EVENTS.replace("nowhere", "sfx") + "    scene: missing.jsonl\n")
    (problem,) = event_problems(path)
    assert (problem.file, problem.line, problem.path) == (str(path), 9, "scene")
    assert problem.message == "cannot read scene file missing.jsonl: No such file or directory"
    assert problem.hint == (
        f"looked for {(tmp_path / 'missing.jsonl').resolve()}; "
        "a relative path starts at the config's folder"
    )
    assert str(problem).startswith(f"{path}:9: scene: cannot read scene file missing.jsonl: ")


def test_delay_with_samples_and_ms_reads_plainly(tmp_path: Path) -> None:
    text = """
        version: 1
        nodes:
          tone: {type: sine}
          d: {type: delay, params: {samples: 10, ms: 5}}
          main: {type: output}
        connections:
          - {from: tone, to: d}
          - {from: d, to: main}
    """
    path = write(tmp_path, text)
    assert problems(path) == [
        Problem(
            str(path),
            4,
            "nodes.d.params",
            "`samples` and `ms` are both given",
            "give either `samples` or `ms`, not both",
        )
    ]


def test_huge_config_has_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)
    (problem,) = problems(path)
    assert (problem.file, problem.line, problem.path) == (str(path), 0, "")
    assert problem.message == "config is 8.4 MB, over the 8 MiB limit"
    assert problem.hint == (
        "move large event lists to a JSONL scene file and name it with `scene: PATH`"
    )


def test_binary_config_has_line_and_hint(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    path.write_bytes(b"version: 1\nnodes: {\xff\xfe}\n")
    assert problems(path) == [
        Problem(
            str(path),
            2,
            "",
            "config is not UTF-8 text: invalid byte 0xff",
            "a config is a YAML or JSON text file; save it as UTF-8",
        )
    ]


OUTPUT = """
    version: 1
    nodes:
      tone: {type: sine}
      main: {type: output, params: {path: PATH}}
    connections:
      - {from: tone, to: main}
"""


def test_unknown_output_extension_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, OUTPUT.replace("PATH", "x.mp9"))
    assert problems(path) == [
        Problem(
            str(path),
            4,
            "nodes.main.params.path",
            "unknown output format '.mp9': supported formats are wav, flac",
            "end the path in .wav or .flac, or set `format`",
        )
    ]


@pytest.mark.parametrize("out", ["x.wav", "x.FLAC", "noext"])
def test_known_or_no_output_extension_is_accepted(tmp_path: Path, out: str) -> None:
    load_config(write(tmp_path, OUTPUT.replace("PATH", out)))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_config_is_refused_at_the_limit() -> None:
    # stat says 0 bytes; the read is bounded all the same
    (problem,) = problems(Path("/dev/zero"))
    assert problem == Problem(
        "/dev/zero",
        0,
        "",
        "config is over the 8 MiB limit",
        "move large event lists to a JSONL scene file and name it with `scene: PATH`",
    )


def test_deep_document_built_in_python_has_a_hint() -> None:
    from aers_host.config import ParsedDocument, validate_config_data

    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ConfigError) as info:
        validate_config_data(ParsedDocument({"nodes": deep}, "api"), registry={})
    assert info.value.problems == [
        Problem("api", 0, "", "config nests too deeply", "AERS configs need only a few levels")
    ]
