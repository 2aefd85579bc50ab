"""The public surface of aers_host.plugins: a literal __all__, every name importable."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import aers_host.plugins as plugins


def test_every_name_in_all_is_importable() -> None:
    module = importlib.import_module("aers_host.plugins")
    for name in plugins.__all__:
        assert getattr(module, name) is not None, name


def test_all_is_a_literal_list_without_duplicates() -> None:
    tree = ast.parse(Path(plugins.__file__).read_text())
    (node,) = [
        n for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
    ]  # fmt: skip
    names = ast.literal_eval(node.value)
    assert len(set(names)) == len(names)
