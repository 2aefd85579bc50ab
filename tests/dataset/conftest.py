"""Fixtures of the dataset tests; config texts and helpers live in dataset_scenes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_scenes import REGISTRY, LoadConfig, write

from aers_host.config import GraphConfig, load_config


@pytest.fixture
def load(tmp_path: Path) -> LoadConfig:
    """Write a config text into tmp_path and load it with the built-in registry."""

    def run(text: str, name: str = "graph.yaml", **overrides: object) -> GraphConfig:
        return load_config(write(tmp_path, text, name), registry=REGISTRY, overrides=overrides)

    return run
