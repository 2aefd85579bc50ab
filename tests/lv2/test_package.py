"""The public surface of aers_host.lv2, and that importing it does not load lilv."""

from __future__ import annotations

import importlib
import subprocess
import sys

import aers_host.lv2 as lv2


def test_every_name_in_all_is_importable() -> None:
    module = importlib.import_module("aers_host.lv2")
    for name in lv2.__all__:
        assert getattr(module, name) is not None


def test_all_is_sorted_and_literal() -> None:
    assert list(lv2.__all__) == sorted(lv2.__all__)


def test_hosting_never_loads_lilv() -> None:
    code = (
        "import aers_host.lv2, pathlib; "
        "print('liblilv' in pathlib.Path('/proc/self/maps').read_text())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "False"
