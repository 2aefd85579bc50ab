"""No import cycles between the top-level parts of ``aers_host`` (docs/architecture.md, "Layers").

A *part* is a top-level subpackage (``config``, ``graph``...) or a private top-level module
(``_nodetype``, ``_builtins``...); the package's own ``__init__`` is the facade and counts
as the part ``aers_host``. Every ``import`` in the source counts, wherever it is written:
at module level, inside a function, under ``if TYPE_CHECKING:`` — and so does every module
a package re-exports lazily through its ``_WHERE`` table. The one thing not counted is a
loader looked up by *kind* at run time (``plugins._discovery.LOADERS``,
``sandbox._stages``): a plugin point like an entry-point group, named by string on
purpose so that discovery works without the loaders installed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aers_host

ROOT = Path(aers_host.__file__).resolve().parent

#: part -> part it imports -> the first "module:line" that does.
Edges = dict[str, dict[str, str]]


def module_name(path: Path) -> str:
    """``aers_host/graph/_plan.py`` -> ``aers_host.graph._plan`` (a package: its name)."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The top-level part a module belongs to: ``aers_host.graph._plan`` -> ``graph``."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "aers_host"


def imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every ``aers_host`` module ``tree`` imports (absolute name, line), in any scope."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
            if not node.level:
                target = node.module or ""
            # ``from . import dsp`` imports the submodule; ``from .x import name`` module x.
            yield from ((f"{target}.{alias.name}", node.lineno) for alias in node.names)
            yield target, node.lineno
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_WHERE" for t in node.targets
        ):
            for value in getattr(node.value, "values", []):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    where = value.value
                    yield (f"{package}{where}" if where.startswith(".") else where), node.lineno


def import_edges() -> Edges:
    """Part-to-part imports of the whole package."""
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: Edges = {}
    for module, path in sorted(files.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, line in imported(tree, module, path.name == "__init__.py"):
            if target not in files or not target.startswith("aers_host"):
                continue  # a name inside a module, or outside the package
            src, dst = part_of(module), part_of(target)
            if src != dst:
                edges.setdefault(src, {}).setdefault(dst, f"{module}:{line}")
    return edges


def cycles(edges: Edges) -> list[list[str]]:
    """Strongly connected groups of more than one part (Tarjan), each in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(part: str) -> None:
        index[part] = low[part] = len(index)
        stack.append(part)
        for nxt in sorted(edges.get(part, {})):
            if nxt not in index:
                visit(nxt)
                low[part] = min(low[part], low[nxt])
            elif nxt in stack:
                low[part] = min(low[part], index[nxt])
        if low[part] == index[part]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == part:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for part in sorted(edges):
        if part not in index:
            visit(part)
    return found


def describe(group: list[str], edges: Edges) -> str:
    """``graph -> config (aers_host.graph._plan:31); config -> graph (...)``."""
    return "; ".join(
        f"{a} -> {b} ({where})"
        for a in group
        for b, where in sorted(edges.get(a, {}).items())
        if b in group
    )


def test_no_import_cycle_between_top_level_parts() -> None:
    edges = import_edges()
    assert edges["graph"]  # the walk sees imports at all
    found = cycles(edges)
    assert not found, "import cycles: " + " | ".join(describe(g, edges) for g in found)


def test_the_walk_finds_function_level_and_type_checking_imports() -> None:
    edges = import_edges()
    # function level: the planner loads the sandbox only when planning
    assert edges["graph"]["sandbox"].startswith("aers_host.graph._plan:")
    # under TYPE_CHECKING: the device bridge names the graph's types
    assert "graph" in edges["device"]
    # a lazy re-export table: the facade's ``load_config`` lives in ``_builtins``
    assert "_builtins" in edges["aers_host"]


def test_a_cycle_is_named_with_where_each_import_is() -> None:
    edges: Edges = {"config": {"graph": "aers_host.config._v:3"}, "graph": {"config": "g:1"}}
    [group] = cycles(edges)
    assert group == ["config", "graph"]
    assert describe(group, edges) == "config -> graph (aers_host.config._v:3); graph -> config (g:1)"


def test_config_never_imports_the_engine_or_the_dsp() -> None:
    edges = import_edges()
    assert not {"graph", "dsp", "sandbox", "native", "_builtins"} & set(edges["config"])


def test_hook_markers_are_a_leaf_and_the_builtins_need_no_registry_import() -> None:
    edges = import_edges()
    assert set(edges.get("_hooks", {})) <= {"_nodetype"}  # for type hints only
    for part in ("dsp", "events", "graph", "remote"):  # they mark hooks, not fetch registries
        assert "plugins" not in edges[part], edges[part]["plugins"]
    assert "_builtins" not in edges["plugins"]  # the registry receives the built-ins
