r"""Turn config bytes (YAML or JSON) into plain data plus a JSON-path → line map.

Hostile input is refused before it can cost much:

1. files over :data:`MAX_CONFIG_BYTES` are refused from ``stat`` alone, unread;
2. YAML is *composed* (a node graph where an alias is a shared reference, so cheap) and the
   size of its full expansion is computed with memoisation; a billion-laughs document is
   refused there, before anything is constructed or traversed;
3. duplicate mapping keys are errors (PyYAML and ``json`` would silently keep the last).

Example:
    >>> doc = parse_text("a: 1\\nb: [2, 3]\\n", "x.yaml")
    >>> doc.data, doc.lines["b.1"]
    ({'a': 1, 'b': [2, 3]}, 2)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._files import TooLarge, read_bounded
from ..errors import ConfigError, Problem
from ._yaml_hint import explain_yaml_error

#: Largest config file read at all (a scene with thousands of inline events fits easily).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
#: libyaml's composer when PyYAML was built with it (same nodes and marks, ~10x faster).
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Largest number of YAML nodes after expanding every alias (the billion-laughs guard).
MAX_EXPANDED_NODES = 200_000


@dataclass(slots=True)
class ParsedDocument:
    """Plain data of a config file, with the line of each JSON path where known."""

    data: Any
    file: str
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str) -> int:
        """Line of ``path`` or of its nearest ancestor that has one (0 if none)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return 0
            path = path.rpartition(".")[0]


def read_config_text(path: Path) -> str:
    """Read a config file with the size cap applied before reading.

    Raises:
        ConfigError: missing, unreadable, too large or not UTF-8.
    """
    where = str(path)
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except TooLarge as err:
        size = "" if err.size is None else f" {err.size / 1e6:.1f} MB,"
        raise ConfigError([_too_large(where, f"config is{size} {_LIMIT}")]) from err
    except OSError as err:
        raise ConfigError([Problem(where, 0, "", f"cannot read config: {err.strerror}")]) from err
    try:  # universal newlines, as text mode reads them
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            [
                Problem(
                    where,
                    line,
                    "",
                    f"config is not UTF-8 text: invalid byte 0x{data[err.start]:02x}",
                    "a config is a YAML or JSON text file; save it as UTF-8",
                )
            ]
        ) from err


_LIMIT = f"over the {MAX_CONFIG_BYTES // 2**20} MiB limit"


def _too_large(where: str, message: str) -> Problem:
    return Problem(
        where,
        0,
        "",
        message,
        "move large event lists to a JSONL scene file and name it with `scene: PATH`",
    )


def parse_text(text: str, file: str) -> ParsedDocument:
    """Parse YAML (or JSON, when ``file`` ends in ``.json``) into a :class:`ParsedDocument`.

    Raises:
        ConfigError: syntax errors (with line), duplicate keys, alias bombs, deep nesting.
    """
    try:
        return _parse(text, file)
    except RecursionError as err:  # the parsers recurse per nesting level
        raise ConfigError([_too_deep(file)]) from err


def _too_deep(file: str) -> Problem:
    return Problem(file, 0, "", "config nests too deeply", "AERS configs need only a few levels")


def _parse(text: str, file: str) -> ParsedDocument:
    if file.lower().endswith(".json"):
        data = _parse_json(text, file)
        doc = ParsedDocument(data, file)
        try:  # JSON is YAML: reuse the composer for line numbers when it agrees
            node = yaml.compose(text, Loader=_COMPOSER)
        except yaml.YAMLError:
            node = None
        if node is not None:
            _map_lines(node, "", doc.lines)
        return doc
    return _parse_yaml(text, file)


def _parse_json(text: str, file: str) -> Any:
    has_duplicates = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal has_duplicates
        result: dict[str, Any] = {}
        for key, value in pairs:
            has_duplicates = has_duplicates or key in result
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as err:
        raise ConfigError(
            [Problem(file, err.lineno, "", f"JSON syntax error: {err.msg} (column {err.colno})")]
        ) from err
    if has_duplicates:  # json keeps no positions: find them (and their paths) in the text
        raise ConfigError(_json_duplicate_keys(text, file))
    return data


#: A JSON string literal (the text already parsed, so it is well-formed).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@dataclass(slots=True)
class _JsonFrame:
    """An open JSON object or array while scanning: its path and where we are in it."""

    path: str
    is_object: bool
    keys: dict[str, int] = field(default_factory=dict)  # key -> line it was first given on
    key: str = ""
    expect_key: bool = True
    index: int = 0

    def child(self) -> str:
        part = self.key if self.is_object else str(self.index)
        return f"{self.path}.{part}" if self.path else part


def _json_duplicate_keys(text: str, file: str) -> list[Problem]:
    """Duplicate keys of valid JSON ``text``, located like YAML's (line and dotted path).

    An iterative scan of the structure (no recursion, so deep nesting costs nothing).
    """
    problems: list[Problem] = []
    stack: list[_JsonFrame] = []
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        top = stack[-1] if stack else None
        if char == '"':
            match = _JSON_STRING.match(text, i)
            if match is None:  # unreachable for text json accepted
                break
            if top is not None and top.is_object and top.expect_key:
                key = str(json.loads(match.group()))
                line = text.count("\n", 0, i) + 1
                if key in top.keys:
                    problems.append(_duplicate(file, line, top.path, key, top.keys[key]))
                else:
                    top.keys[key] = line
                top.key, top.expect_key = key, False
            i = match.end()
            continue
        if char in "{[":
            stack.append(_JsonFrame(top.child() if top is not None else "", char == "{"))
        elif char in "}]":
            if stack:
                stack.pop()
        elif char == "," and top is not None:
            if top.is_object:
                top.expect_key = True
            else:
                top.index += 1
        i += 1
    return problems


def _duplicate(file: str, line: int, parent: str, key: str, first_line: int) -> Problem:
    """A key given twice in one mapping (YAML and JSON alike)."""
    path = f"{parent}.{key}" if parent else key
    if parent == "nodes":
        hint = f"first defined on line {first_line}; give each node its own id"
        return Problem(file, line, path, f"duplicate node id {key!r}", hint)
    hint = f"first given on line {first_line}; keep only one"
    return Problem(file, line, path, f"duplicate key {key!r}", hint)


def _parse_yaml(text: str, file: str) -> ParsedDocument:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as err:
        if "nesting depth" in (err.problem or ""):  # libyaml's own guard against deep nesting
            raise ConfigError([_too_deep(file)]) from err
        found = explain_yaml_error(text, err)
        raise ConfigError([Problem(file, found.line, "", found.message, found.hint)]) from err
    except yaml.YAMLError as err:
        raise ConfigError([Problem(file, 0, "", f"YAML syntax error: {err}")]) from err
    if node is None:
        raise ConfigError(
            [Problem(file, 1, "", "config is empty", "start from examples/demo.yaml")]
        )
    distinct: dict[int, int] = {}
    if _expanded_size(node, distinct) > MAX_EXPANDED_NODES:
        line = node.start_mark.line + 1
        if len(distinct) > MAX_EXPANDED_NODES // 2:  # big as written, not through aliases
            message = f"config holds over {MAX_EXPANDED_NODES:,} YAML values"
            hint = "move long event lists to a JSONL scene file and name it with `scene: PATH`"
        else:
            message = f"YAML expands to over {MAX_EXPANDED_NODES:,} nodes through aliases"
            hint = "refusing a possible alias bomb; write the data out or use fewer aliases"
        raise ConfigError([Problem(file, line, "", message, hint)])
    problems: list[Problem] = []
    _find_duplicate_keys(node, "", file, problems)
    if problems:
        raise ConfigError(problems)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as err:
        raise ConfigError([Problem(file, 0, "", f"YAML error: {err}")]) from err
    finally:
        loader.dispose()
    doc = ParsedDocument(data, file)
    _map_lines(node, "", doc.lines)
    return doc


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Node count of the document with every alias expanded, memoised per shared node."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_EXPANDED_NODES + 1  # a recursive alias counts as too big
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo)
            if total > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            total += _expanded_size(key_node, memo) + _expanded_size(value_node, memo)
            if total > MAX_EXPANDED_NODES:
                break
    memo[key] = total
    return total


def _find_duplicate_keys(node: yaml.Node, path: str, file: str, out: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}  # key -> line it was first given on
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                out.append(_duplicate(file, line, path, key, seen[key]))
            else:
                seen[key] = line
            _find_duplicate_keys(value_node, child, file, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, child_node in enumerate(node.value):
            _find_duplicate_keys(child_node, f"{path}.{index}" if path else str(index), file, out)


def _map_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _map_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, child_node in enumerate(node.value):
            _map_lines(child_node, f"{path}.{index}" if path else str(index), lines)
