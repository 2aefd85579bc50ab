r"""Readable YAML syntax errors: what went wrong on which line, and how to fix it.

PyYAML reports the parser's point of view (``did not find expected key``, ``mapping values
are not allowed in this context``), at the place where it *noticed* the problem, which is
often the line after the mistake. :func:`explain_yaml_error` looks at the text around that
place and names the usual causes in a config file:

* a tab in the indentation (YAML indents with spaces only);
* a key indented differently from the other keys of its mapping;
* a line whose key has no ``:`` (``sample_rate 48000``);
* a ``{`` or ``[`` that is never closed, or a missing comma inside one;
* a list item without the space after its ``-``.

When none of these fits, the parser's own words are kept and the hint lists what to check.

Example:
    >>> import yaml
    >>> text = "nodes:\n  a: {type: sine}\n   b: {type: output}\n"
    >>> try:
    ...     yaml.compose(text, Loader=yaml.SafeLoader)
    ... except yaml.MarkedYAMLError as err:
    ...     found = explain_yaml_error(text, err)
    >>> found.line, found.message.split(": ", 1)[1]
    (3, 'line 3 is indented 3 spaces, but the keys above it are at 2 (line 2) or 0 (line 1)')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import yaml

_GENERIC_HINT: Final = (
    "check the indentation (spaces only; keys of one mapping start in the same column) "
    "and that every key is followed by ': '"
)
#: A block-mapping line ``key: value`` or ``key:`` (quoted keys included), after its indent.
_KEY_LINE: Final = re.compile(r"""^(?:"[^"]*"|'[^']*'|[^\s#:'"][^#:]*?)\s*:(?:\s|$)""")


@dataclass(frozen=True, slots=True)
class YamlSyntax:
    """A YAML syntax error explained: 1-based line (0 if unknown), message and hint."""

    line: int
    message: str
    hint: str


def explain_yaml_error(text: str, err: yaml.MarkedYAMLError) -> YamlSyntax:
    """[any-thread] Turn PyYAML's error for ``text`` into a located message with a fix."""
    lines = text.split("\n")
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 0
    problem = err.problem or "invalid YAML"
    tab = _first_tab_indent(lines, line)
    if tab:
        return YamlSyntax(
            tab,
            f"YAML syntax error: line {tab} is indented with a tab",
            "YAML indents with spaces only; replace the tab with spaces",
        )
    # libyaml's words, then the pure-Python parser's, for a key out of line.
    if problem.startswith(("did not find expected key", "expected <block end>")) and (
        err.context_mark is not None
    ):
        found = _misindented(lines, line, err.context_mark.line + 1)
        if found is not None:
            return found
    if problem.startswith(("mapping values are not allowed", "could not find expected ':'")):
        missing = _missing_colon(lines, line)
        if missing:
            return YamlSyntax(
                missing,
                f"YAML syntax error: line {missing} has no ':' after its key",
                "write `key: value` with a colon and a space, e.g. `sample_rate: 48000`",
            )
    if problem.startswith("did not find expected ',' or"):
        opened = err.context_mark.line + 1 if err.context_mark is not None else line
        closer = "}" if problem.endswith("'}'") else "]"
        return YamlSyntax(
            line,
            f"YAML syntax error: the {_OPENER[closer]!r} opened on line {opened} is not closed "
            f"before line {line}",
            f"close it with {closer!r} on the same line, and separate its entries with ', '",
        )
    if problem.startswith("did not find expected '-' indicator"):
        return YamlSyntax(
            line,
            f"YAML syntax error: line {line} is not a list item like the lines above it",
            "start each list item with a dash and a space, '- ', in the same column",
        )
    return YamlSyntax(line, f"YAML syntax error: {problem}", _GENERIC_HINT)


_OPENER: Final = {"}": "{", "]": "["}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _first_tab_indent(lines: list[str], upto: int) -> int:
    """First line (1-based, at most ``upto``) whose indentation holds a tab; 0 if none."""
    for number, line in enumerate(lines[: max(upto, 1)], start=1):
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))]:
            return number
    return 0


def _misindented(lines: list[str], line: int, opened: int) -> YamlSyntax | None:
    """A line indented to no column the keys above it use (``opened``: where PyYAML was)."""
    if not 0 < line <= len(lines) or not 0 < opened <= line:
        return None
    here = _indent(lines[line - 1])
    columns: list[tuple[int, int]] = []  # (indent, line) of the lines it could sit beside
    for number in range(line - 1, 0, -1):
        indent = _indent(lines[number - 1])
        if _content(lines[number - 1]) and (not columns or indent < columns[-1][0]):
            columns.append((indent, number))
    if not columns or here in {indent for indent, _ in columns}:
        return None
    beside = " or ".join(f"{indent} (line {number})" for indent, number in columns)
    above = columns[0][1]
    return YamlSyntax(
        line,
        f"YAML syntax error: line {line} is indented {here} spaces, "
        f"but the keys above it are at {beside}",
        f"indent it like the key it belongs beside; if it belongs inside line {above}, "
        "end that line with ':' and nothing after it",
    )


def _missing_colon(lines: list[str], line: int) -> int:
    """The line at or above ``line`` that reads like a key but has no ``key:``; 0 if none."""
    for number in range(min(line, len(lines)), 0, -1):
        text = lines[number - 1].strip()
        if not _content(lines[number - 1]) or text.startswith(("-", "{", "[", "}", "]")):
            continue
        if not _KEY_LINE.match(text):
            return number
    return 0
