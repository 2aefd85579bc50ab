"""Every config error of the foundation issue: located, named, with a hint where one helps."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from config_helpers import problems, write
from graphs import SINE_EQ, graph

from aers_host import load_config
from aers_host.errors import Problem

GOOD = graph(SINE_EQ, version=1, sample_rate=48000, block_size=512, duration=1.0)


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert list(cfg.nodes) == ["tone", "eq1", "main"]
    assert cfg.sample_rate == 48000 and cfg.block_size == 512 and cfg.duration == 1.0


def test_json_and_yaml_are_the_same_document(tmp_path: Path) -> None:
    import json

    import yaml

    data = yaml.safe_load(textwrap.dedent(GOOD))
    from_json = load_config(write(tmp_path, json.dumps(data, indent=1), "graph.json"))
    from_yaml = load_config(write(tmp_path, GOOD))
    assert from_json.nodes == from_yaml.nodes and from_json.connections == from_yaml.connections


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "nodes:\n  a: {type: sine\n  b: [\n")
    found = problems(path)
    assert len(found) == 1
    assert found[0].line >= 2 and "YAML syntax error" in found[0].message
    assert str(found[0]).startswith(f"{path}:{found[0].line}: ")


def test_json_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "nodes": {\n    "a": {"type": "sine",}\n  }\n}\n', "graph.json")
    (problem,) = problems(path)
    assert problem.line == 3 and "JSON syntax error" in problem.message


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("block_size: 512", "blok_size: 512"))
    (problem,) = problems(path)
    assert problem.path == "blok_size" and problem.line == 3
    assert "unknown key" in problem.message and "block_size" in problem.hint


def test_unknown_param_key_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("level_db: -12", "levl_db: -12"))
    (problem,) = problems(path)
    assert problem.path == "nodes.tone.params.levl_db"
    assert "level_db" in problem.hint


def test_unknown_node_type_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("type: eq,", "type: eqq,"))
    (problem,) = problems(path)
    assert problem.path == "nodes.eq1.type" and problem.line == 7
    assert "unknown node type 'eqq'" in problem.message and "'eq'" in problem.hint


def test_connection_to_missing_node(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{from: eq1, to: main}", "{from: eq1, to: mian}"))
    (problem,) = problems(path)
    assert problem.path == "connections.1.to"
    assert "missing node 'mian'" in problem.message and "'main'" in problem.hint


def test_duplicate_node_id(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  main: {type: output}", "  main: {type: output}\n  eq1: {type: gain}"
    )
    found = problems(write(tmp_path, text))
    assert any(
        p.path == "nodes.eq1" and "duplicate node id 'eq1'" in p.message and p.line == 9
        for p in found
    )


def test_duplicate_node_id_in_json(tmp_path: Path) -> None:
    text = '{"duration": 1, "nodes": {"a": {"type": "sine"}, "a": {"type": "noise"}}}'
    path = write(tmp_path, text, "graph.json")
    assert problems(path) == [
        Problem(
            str(path),
            1,
            "nodes.a",
            "duplicate node id 'a'",
            "first defined on line 1; give each node its own id",
        )
    ]


def test_cycle_without_delay_is_named(tmp_path: Path) -> None:
    text = """
        duration: 1
        nodes:
          src: {type: sine}
          a: {type: gain}
          b: {type: eq, params: {bands: []}}
          out: {type: output}
        connections:
          - {from: src, to: a}
          - {from: a, to: b}
          - {from: b, to: a}
          - {from: b, to: out}
    """
    (problem,) = problems(write(tmp_path, text))
    assert "cycle" in problem.message and "not broken by a delay" in problem.message
    assert "a → b → a" in problem.message or "b → a → b" in problem.message


@pytest.mark.parametrize("output_first", [True, False])
def test_the_named_cycle_leaves_out_nodes_downstream_of_it(
    tmp_path: Path, output_first: bool
) -> None:
    # Nodes fed by the cycle cannot be ordered either, but they are not part of it.
    first, second = ("{from: bus, to: main}", "{from: bus, to: g}")[:: 1 if output_first else -1]
    text = """
        nodes:
          tone: {type: sine}
          g: {type: gain}
          bus: {type: mix}
          main: {type: output}
          tail: {type: gain}
          tap: {type: output}
        connections:
          - {from: tone, to: g}
          - {from: g, to: bus}
          - FIRST
          - SECOND
          - {from: bus, to: tail}
          - {from: tail, to: tap}
    """.replace("FIRST", first).replace("SECOND", second)
    found = problems(write(tmp_path, text))
    assert any("cycle g → bus → g is not broken" in p.message for p in found), found


def test_cycle_through_delay_is_accepted(tmp_path: Path) -> None:
    text = """
        duration: 1
        nodes:
          src: {type: impulse}
          bus: {type: mix}
          dly: {type: delay, params: {samples: 1000, mix: 1.0}}
          out: {type: output}
        connections:
          - {from: src, to: bus}
          - {from: bus, to: dly}
          - {from: dly, to: bus, gain_db: -6}
          - {from: bus, to: out}
    """
    cfg = load_config(write(tmp_path, text))
    assert "dly" in cfg.nodes


def test_feedback_delay_shorter_than_block_is_refused(tmp_path: Path) -> None:
    text = """
        duration: 1
        block_size: 512
        nodes:
          src: {type: impulse}
          bus: {type: mix}
          dly: {type: delay, params: {samples: 100}}
          out: {type: output}
        connections:
          - {from: src, to: bus}
          - {from: bus, to: dly}
          - {from: dly, to: bus}
          - {from: bus, to: out}
    """
    (problem,) = problems(write(tmp_path, text))
    assert problem.path == "nodes.dly.params" and "shorter than block_size 512" in problem.message


def test_frequency_at_nyquist(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("freq: 1000", "freq: 24000"))
    (problem,) = problems(path)
    assert problem.path == "nodes.eq1.params.bands.0.freq"
    assert "Nyquist" in problem.message and problem.line == 7


def test_sine_frequency_above_nyquist_at_44k1(tmp_path: Path) -> None:
    text = GOOD.replace("sample_rate: 48000", "sample_rate: 44100").replace(
        "freq: 440", "freq: 23000"
    )
    (problem,) = problems(write(tmp_path, text))
    assert problem.path == "nodes.tone.params.freq" and "Nyquist" in problem.message


def test_negative_delay(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  main: {type: output}",
        "  d: {type: delay, params: {ms: -5}}\n  main: {type: output}",
    )
    found = problems(write(tmp_path, text))
    assert any(p.path == "nodes.d.params.ms" and "too small" in p.message for p in found)


def test_unsupported_sample_rate(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, GOOD.replace("48000", "384000")))
    assert problem.path == "sample_rate" and "384000 is too large" in problem.message
    assert "192000" in problem.message


def test_missing_input_file(tmp_path: Path) -> None:
    text = GOOD.replace(
        "{type: sine, params: {freq: 440, level_db: -12}}",
        "{type: file, params: {path: media/nope.wav}}",
    )
    (problem,) = problems(write(tmp_path, text))
    assert problem.path == "nodes.tone.params.path" and "not found" in problem.message
    assert "nope.wav" in problem.message


def test_channel_count_mismatch(tmp_path: Path) -> None:
    sf.write(tmp_path / "mono.wav", np.zeros(4800, np.float32), 48000)
    text = """
        duration: 1
        nodes:
          voice: {type: file, params: {path: mono.wav}}
          tone: {type: sine, params: {channels: 2}}
          bus: {type: mix}
          out: {type: output}
        connections:
          - {from: voice, to: bus}
          - {from: tone, to: bus}
          - {from: bus, to: out}
    """
    (problem,) = problems(write(tmp_path, text))
    assert problem.path == "nodes.bus" and "channel-count mismatch" in problem.message
    assert "voice (1 ch)" in problem.message and "tone (2 ch)" in problem.message
    assert "pan" in problem.hint


def test_output_channel_expectation(tmp_path: Path) -> None:
    text = GOOD.replace("main: {type: output}", "main: {type: output, params: {channels: 1}}")
    (problem,) = problems(write(tmp_path, text))
    assert (
        problem.path == "nodes.main" and "expects 1 channels but its input has 2" in problem.message
    )


def test_source_cannot_take_input(tmp_path: Path) -> None:
    text = GOOD.replace(
        "- {from: tone, to: eq1}", "- {from: eq1, to: tone}\n  - {from: tone, to: eq1}"
    )
    found = problems(write(tmp_path, text))
    assert any(p.path == "connections.0.to" and "takes no input" in p.message for p in found)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace("48000", "4000")
        .replace("type: eq,", "type: eqq,")
        .replace("to: main", "to: mian")
    )
    found = problems(write(tmp_path, text))
    assert {p.path for p in found} >= {"sample_rate", "nodes.eq1.type", "connections.1.to"}


def test_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("nodes: {x: {type: sine, params: *a9}}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    t0 = time.perf_counter()
    (problem,) = problems(path)
    assert time.perf_counter() - t0 < 2.0
    assert "expands to over" in problem.message and "alias" in problem.hint


def test_huge_config_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: 100 MB without writing it
    t0 = time.perf_counter()
    (problem,) = problems(path)
    assert time.perf_counter() - t0 < 1.0
    assert "over the 8 MiB limit" in problem.message


def test_empty_and_non_mapping_configs(tmp_path: Path) -> None:
    assert "empty" in problems(write(tmp_path, "\n"))[0].message
    assert "must be a mapping" in problems(write(tmp_path, "- 1\n- 2\n"))[0].message


def test_missing_config_file(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "absent.yaml")
    assert "cannot read config" in problem.message


@pytest.mark.parametrize("name", ["deep.yaml", "deep.json"])
def test_deeply_nested_config_is_refused(tmp_path: Path, name: str) -> None:
    inner = "[" * 50_000 + "]" * 50_000
    text = f'{{"nodes": {inner}}}' if name.endswith(".json") else f"nodes: {inner}\n"
    (problem,) = problems(write(tmp_path, text, name))
    assert "nests too deeply" in problem.message


def test_binary_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    (problem,) = problems(path)
    assert "not UTF-8" in problem.message


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("nan.json", '{"duration": 1, "nodes": {"s": {"type": "sine", "params": {"freq": NaN}}}}'),
        ("inf.yaml", "duration: 1\nnodes:\n  s: {type: sine, params: {freq: .inf}}\n"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path: Path, name: str, text: str) -> None:
    (problem,) = problems(write(tmp_path, text, name))
    assert problem.path == "nodes.s.params.freq" and "finite" in problem.message


def test_cycle_is_located_at_the_connection_that_closes_it(tmp_path: Path) -> None:
    text = """
        nodes:
          src: {type: sine}
          a: {type: gain}
          b: {type: gain}
          out: {type: output}
        connections:
          - {from: src, to: a}
          - {from: a, to: b}
          - {from: b, to: out}
          - {from: b, to: a}
    """
    path = write(tmp_path, text)
    closing_line = path.read_text().splitlines().index("  - {from: b, to: a}") + 1
    (problem,) = problems(path)
    assert "a → b → a" in problem.message
    assert problem.path == "connections.3" and problem.line == closing_line


def test_cycle_is_reported_together_with_other_problems(tmp_path: Path) -> None:
    # One run of `aers validate` lists the cycle beside a bad type and a bad param.
    text = """
        nodes:
          src: {type: sine, params: {freq: 440, gainn: 1}}
          a: {type: gain}
          b: {type: gian}
          d: {type: delay, params: {ms: -5}}
          out: {type: output}
        connections:
          - {from: src, to: a}
          - {from: a, to: b}
          - {from: b, to: a}
          - {from: a, to: out}
    """
    found = problems(write(tmp_path, text))
    paths = {p.path for p in found}
    assert {"nodes.src.params.gainn", "nodes.b.type", "nodes.d.params.ms"} <= paths, found
    assert any("cycle a → b → a is not broken" in p.message for p in found), found


def test_a_delay_with_bad_params_still_breaks_its_cycle(tmp_path: Path) -> None:
    # The delay's own mistake is reported; no phantom cycle is added to it.
    text = """
        nodes:
          src: {type: impulse}
          bus: {type: mix}
          dly: {type: delay, params: {ms: -5}}
          out: {type: output}
        connections:
          - {from: src, to: bus}
          - {from: bus, to: dly}
          - {from: dly, to: bus}
          - {from: bus, to: out}
    """
    (problem,) = problems(write(tmp_path, text))
    assert problem.path == "nodes.dly.params.ms"


def test_integral_floats_are_the_integers_they_denote(tmp_path: Path) -> None:
    # JSON Schema accepts 44100.0 as an integer; it must not silently become the default.
    text = GOOD.replace("sample_rate: 48000", "sample_rate: 44100.0").replace(
        "block_size: 512", "block_size: 1024.0"
    )
    cfg = load_config(write(tmp_path, text))
    assert (cfg.sample_rate, cfg.block_size) == (44100, 1024)
    assert isinstance(cfg.sample_rate, int) and isinstance(cfg.block_size, int)
    nyquist = text.replace("freq: 1000", "freq: 23000")  # above 22050, below 24000
    (problem,) = problems(write(tmp_path, nyquist, "n.yaml"))
    assert "22050 Hz for 44100 Hz" in problem.message


def test_a_config_large_as_written_is_not_called_an_alias_bomb(tmp_path: Path) -> None:
    values = ", ".join(["1"] * 210_000)  # no alias anywhere, just too many values
    path = write(tmp_path, f"nodes: {{}}\nseed_list: [{values}]\n")
    (problem,) = problems(path)
    assert "holds over 200,000 YAML values" in problem.message and "alias" not in problem.hint


def test_messages_echo_at_most_a_short_piece_of_a_huge_value(tmp_path: Path) -> None:
    values = ", ".join(["1"] * 100_000)
    path = write(tmp_path, GOOD.replace("{freq: 440, level_db: -12}", f"{{phase: [{values}]}}"))
    (problem,) = problems(path)
    assert problem.path == "nodes.tone.params.phase" and len(str(problem)) < 300
    assert problem.message.endswith("…")


def test_a_quoted_sample_rate_is_told_to_lose_its_quotes(tmp_path: Path) -> None:
    (problem,) = problems(
        write(tmp_path, GOOD.replace("sample_rate: 48000", 'sample_rate: "48000"'))
    )
    assert problem.path == "sample_rate" and "without quotes" in problem.hint


def test_too_many_items_is_said_as_a_count() -> None:
    from aers_host.config._schema import schema_problems

    schema = {"type": "array", "maxItems": 2}
    (problem,) = schema_problems([1, 2, 3], schema, file="f", base="x", line_of=lambda _p: 1)
    assert problem.message == "has 3 items; it must have at most 2"
