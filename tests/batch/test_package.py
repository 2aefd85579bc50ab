"""The public surface of aers_host.batch."""

from __future__ import annotations

import importlib


def test_every_name_in_all_imports() -> None:
    module = importlib.import_module("aers_host.batch")
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert getattr(module, name) is not None
