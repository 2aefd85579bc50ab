r"""Every reason the sandbox would refuse a plugin's Python files, found before it runs.

``aers plugin sign``, ``verify``, ``install`` and ``test`` call :func:`lint_plugin_files`,
so an author hears about all problems at once, each as ``FILE:LINE: construct: why (fix)``,
instead of one ``failed (...)`` at render. Three passes over each file, all with the
sandbox's own rules:

1. RestrictedPython's compile with the loader's exact policy
   (:func:`._restricted.restricted_compile`): names or attributes starting with ``_``,
   ``exec``/``eval``, ``try/except*``, augmented assignment to items...;
2. imports: only :data:`._restricted.ALLOWED_IMPORTS`, absolute (``import os`` compiles,
   but the plugin's ``__import__`` refuses it when the module runs);
3. names: a name the file never binds and the plugin builtins
   (:func:`._restricted.plugin_builtins`) do not hold (``open``, ``getattr``, ``type``) is
   a ``NameError`` at run time.

Which files: every ``*.py`` of the plugin except its tests (``test_*.py``, ``*_test.py``,
``conftest.py``), which run on the author's machine under pytest, never in the sandbox.

Example:
    >>> [(p.file, p.line, p.path) for p in lint_plugin_files({"fx.py": b"import os\n"})]
    [('fx.py', 1, 'import os')]
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Final

from ..errors import Problem
from ..plugins._manifest import host_error
from ._restricted import ALLOWED_IMPORTS, plugin_builtins, restricted_compile

#: ``Line N: message`` as RestrictedPython words its errors.
_LINE: Final = re.compile(r"^Line (\d+): (.*?)\.?$")
#: ``"_name" is an invalid variable/attribute name because it starts with "_"``.
_UNDERSCORE: Final = re.compile(r'^"([^"]+)" is an invalid (variable|attribute) name')
_HINTS: Final = (
    ('starts with "_"', "rename it without the leading underscore"),
    ("Exec calls", "plugins cannot run code from strings; write the code itself"),
    ("Eval calls", "plugins cannot run code from strings; write the code itself"),
    ("Augmented assignment", "write `a[i] = a[i] + x` instead of `a[i] += x`"),
    ("TryStar", "use a plain `try/except`"),
    ("SyntaxError", "fix the syntax; the file must be valid Python 3.11"),
)
_NAME_HINTS: Final = {
    "open": "plugins cannot touch files",
    "getattr": "read the attribute directly: `obj.name`",
    "setattr": "assign it directly: `self.name = value`",
    "type": "plugins may not inspect types; compare values instead",
    "object": "plugin classes need no base class",
    "globals": "plugins may not inspect their namespace",
    "locals": "plugins may not inspect their namespace",
    "vars": "plugins may not inspect their namespace",
    "format": "use f-strings",
}
_GENERIC: Final = "the sandbox refuses this construct; see 'Writing a plugin' in docs/plugins.md"
#: Names the compiler already refuses (reported once, by it) or rewrites (``print``).
_COMPILER_NAMES: Final = frozenset(("exec", "eval", "print", "printed"))
#: Longest piece of a source line quoted as the construct.
_QUOTE_CHARS: Final = 40


def is_test_file(path: str) -> bool:
    """[any-thread] Whether ``path`` is a test module (runs under pytest, not in the sandbox)."""
    name = PurePosixPath(path).name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def plugin_sources(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """[any-thread] The plugin's Python files the sandbox could run (tests left out)."""
    return {p: data for p, data in files.items() if p.endswith(".py") and not is_test_file(p)}


def lint_plugin_files(files: Mapping[str, bytes]) -> list[Problem]:
    """[any-thread] Every sandbox refusal in the plugin's Python files, by file and line.

    Args:
        files: relative path → bytes (a plugin folder's files, verified or not).

    Returns:
        The problems, ordered by file then line; empty when the sandbox accepts them all.
    """
    problems: list[Problem] = []
    for path, data in sorted(plugin_sources(files).items()):
        problems += _lint_file(path, data)
    return problems


def _lint_file(path: str, data: bytes) -> list[Problem]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return [Problem(path, line, "source", "is not UTF-8 text", "save the file as UTF-8")]
    _, errors = restricted_compile(text, path)
    lines = text.splitlines()
    found = [_compile_problem(path, error, lines) for error in errors]
    try:
        tree = ast.parse(text, path)
    except SyntaxError:
        return found  # RestrictedPython reported it, located
    found += _import_problems(path, tree)
    found += _name_problems(path, tree)
    return sorted(found, key=lambda p: p.line)


def _compile_problem(path: str, error: str, lines: list[str]) -> Problem:
    match = _LINE.match(error)
    line, message = (int(match.group(1)), match.group(2)) if match else (0, error)
    named = _UNDERSCORE.match(message)
    if named:
        construct = named.group(1)
    elif 0 < line <= len(lines):
        quoted = lines[line - 1].strip()
        construct = quoted if len(quoted) <= _QUOTE_CHARS else quoted[: _QUOTE_CHARS - 1] + "…"
    else:
        construct = "source"
    hint = next((h for key, h in _HINTS if key in message), _GENERIC)
    return Problem(path, line, construct, f"refused by the sandbox compiler: {message}", hint)


def _import_problems(path: str, tree: ast.Module) -> Iterator[Problem]:
    allowed = " and ".join(ALLOWED_IMPORTS)
    hint = f"compute it with {allowed}; the sandbox refuses every other module"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS:
                    yield Problem(path, node.lineno, f"import {alias.name}",
                                  f"plugins may import only {allowed}", hint)  # fmt: skip
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.level or module not in ALLOWED_IMPORTS:
                names = ", ".join(a.name for a in node.names)
                yield Problem(path, node.lineno, f"from {module} import {names}",
                              f"plugins may import only {allowed}", hint)  # fmt: skip


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the file binds anywhere (a deliberately generous scope model)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".", 1)[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
    return bound


def _name_problems(path: str, tree: ast.Module) -> Iterator[Problem]:
    available = _bound_names(tree) | set(plugin_builtins()) | _COMPILER_NAMES
    reported: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in available
            and not node.id.startswith("_")  # the compiler already refused it
            and node.id not in reported
        ):
            reported.add(node.id)
            hint = _NAME_HINTS.get(node.id, "plugins get only safe builtins; see docs/plugins.md")
            message = "is neither defined in this file nor a builtin plugins get"
            yield Problem(path, node.lineno, node.id, message, hint)


def check_plugin_files(name: str, files: Mapping[str, bytes]) -> None:
    """[any-thread] Refuse a plugin whose Python files the sandbox would refuse.

    Raises:
        PluginValidationError: every problem, one line each (``plugin 'NAME': FILE:LINE…``).
    """
    problems = lint_plugin_files(files)
    if problems:
        raise host_error(name, [str(p) for p in problems])
