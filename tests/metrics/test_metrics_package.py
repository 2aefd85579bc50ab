"""The public surface of ``aers_host.metrics``: every ``__all__`` name imports."""

from __future__ import annotations

import aers_host.metrics as metrics


def test_every_public_name_imports() -> None:
    for name in metrics.__all__:
        assert getattr(metrics, name) is not None, name


def test_warm_kernels_compiles_without_error() -> None:
    assert metrics.warm_kernels() == 1
