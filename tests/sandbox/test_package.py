"""The public surface of aers_host.sandbox."""

from __future__ import annotations

import importlib

import aers_host.sandbox as sandbox


def test_every_name_in_all_is_importable() -> None:
    module = importlib.import_module("aers_host.sandbox")
    for name in sandbox.__all__:
        assert getattr(module, name) is not None


def test_all_is_sorted_and_literal() -> None:
    assert list(sandbox.__all__) == sorted(sandbox.__all__)
