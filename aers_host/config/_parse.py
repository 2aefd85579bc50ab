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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Problem

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
        size = path.stat().st_size
    except OSError as err:
        raise ConfigError([Problem(where, 0, "", f"cannot read config: {err.strerror}")]) from err
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            [
                Problem(
                    where,
                    0,
                    "",
                    f"config is {size / 1e6:.1f} MB, "
                    f"over the {MAX_CONFIG_BYTES // 2**20} MiB limit",
                    "move large event lists to a JSONL scene file (scene: PATH)",
                )
            ]
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError([Problem(where, 0, "", "config is not UTF-8 text")]) from err
    except OSError as err:
        raise ConfigError([Problem(where, 0, "", f"cannot read config: {err.strerror}")]) from err


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
    duplicates: list[Problem] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                duplicates.append(Problem(file, 0, key, f"duplicate key {key!r}"))
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as err:
        raise ConfigError(
            [Problem(file, err.lineno, "", f"JSON syntax error: {err.msg} (column {err.colno})")]
        ) from err
    if duplicates:
        raise ConfigError(duplicates)
    return data


def _parse_yaml(text: str, file: str) -> ParsedDocument:
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = err.problem or "invalid YAML"
        if "nesting depth" in what:  # libyaml's own guard against deep nesting
            raise ConfigError([_too_deep(file)]) from err
        raise ConfigError([Problem(file, line, "", f"YAML syntax error: {what}")]) from err
    except yaml.YAMLError as err:
        raise ConfigError([Problem(file, 0, "", f"YAML syntax error: {err}")]) from err
    if node is None:
        raise ConfigError(
            [Problem(file, 1, "", "config is empty", "start from examples/demo.yaml")]
        )
    expanded = _expanded_size(node, {})
    if expanded > MAX_EXPANDED_NODES:
        raise ConfigError(
            [
                Problem(
                    file,
                    node.start_mark.line + 1,
                    "",
                    f"YAML expands to over {MAX_EXPANDED_NODES:,} nodes through aliases",
                    "refusing a possible alias bomb; write the data out or use fewer aliases",
                )
            ]
        )
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
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in seen:
                what = "duplicate node id" if path == "nodes" else "duplicate key"
                out.append(Problem(file, key_node.start_mark.line + 1, child, f"{what} {key!r}"))
            seen.add(key)
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
