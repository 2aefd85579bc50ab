"""YAML syntax errors name the line of the mistake and say how to fix it (issue 21, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from config_helpers import problems

from aers_host.config._yaml_hint import explain_yaml_error


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(text, encoding="utf-8")  # not dedented: the indentation is the test
    return path


def test_key_indented_one_space_too_far(tmp_path: Path) -> None:
    text = "duration: 1\nnodes:\n  a: {type: sine}\n   b: {type: output}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert problem.line == 4
    assert "line 4 is indented 3 spaces" in problem.message
    assert "2 (line 3)" in problem.message and "0 (line 2)" in problem.message
    assert "did not find expected key" not in str(problem)  # PyYAML's words are replaced


def test_key_dedented_between_two_levels(tmp_path: Path) -> None:
    text = "nodes:\n    a: {type: sine}\n  b: {type: output}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert problem.line == 3 and "indented 2 spaces" in problem.message
    assert "4 (line 2) or 0 (line 1)" in problem.message


def test_tab_in_indentation(tmp_path: Path) -> None:
    text = "duration: 1\nnodes:\n\ta: {type: sine}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert problem.line == 3 and "tab" in problem.message
    assert "spaces" in problem.hint


def test_key_without_colon(tmp_path: Path) -> None:
    text = "duration: 1\nsample_rate 48000\nnodes:\n  a: {type: sine}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert problem.line == 2 and "no ':'" in problem.message
    assert "key: value" in problem.hint


def test_unclosed_brace_names_where_it_opened(tmp_path: Path) -> None:
    text = "nodes:\n  a: {type: sine, params: {freq: 3}\n  b: {type: output}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert "'{' opened on line 2 is not closed" in problem.message
    assert "'}'" in problem.hint


def test_list_item_without_space_after_dash(tmp_path: Path) -> None:
    text = "connections:\n  - {from: a, to: b}\n  -{from: b, to: c}\n"
    (problem,) = problems(_write(tmp_path, text))
    assert problem.line == 3 and "list item" in problem.message


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_both_parsers_get_the_same_explanation(loader: type[yaml.SafeLoader]) -> None:
    text = "nodes:\n  a: {type: sine}\n   b: {type: output}\n"
    with pytest.raises(yaml.MarkedYAMLError) as info:
        yaml.compose(text, Loader=loader)
    found = explain_yaml_error(text, info.value)
    assert found.line == 3 and "indented 3 spaces" in found.message


def test_unrecognised_error_keeps_the_parser_words_and_a_checklist() -> None:
    text = "a: 'unterminated\n"
    with pytest.raises(yaml.MarkedYAMLError) as info:
        yaml.compose(text, Loader=yaml.SafeLoader)
    found = explain_yaml_error(text, info.value)
    assert found.message.startswith("YAML syntax error: ") and "indentation" in found.hint
