"""The public surface of aers_host.device."""

from __future__ import annotations

import importlib
import subprocess
import sys


def test_every_name_in_all_imports() -> None:
    module = importlib.import_module("aers_host.device")
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_importing_it_loads_neither_jack_nor_the_graph_engine() -> None:
    """``jack`` is imported only by --jack; numba (via the graph) only by the command."""
    code = (
        "import sys, aers_host.device; "
        "print(sorted(m for m in ('jack', 'numba', 'aers_host.graph') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
