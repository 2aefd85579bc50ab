"""The public surface of aers_host.dataset."""

from __future__ import annotations

import importlib

import aers_host.dataset as dataset


def test_every_name_in_all_imports() -> None:
    module = importlib.import_module("aers_host.dataset")
    for name in dataset.__all__:
        assert getattr(module, name) is not None, name


def test_all_is_sorted_and_literal() -> None:
    assert list(dataset.__all__) == sorted(dataset.__all__, key=lambda n: (not n.isupper(), n))
