"""The typed, validated config: what the planner builds from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem

DEFAULT_SAMPLE_RATE = 48_000
DEFAULT_BLOCK_SIZE = 512

#: Node-level keys that sit beside ``type`` and ``params`` (see schema.json ``$defs.node``).
NODE_OPTION_KEYS = (
    "bypass", "mute", "fallback", "deadline_ms", "hang_limit_s", "hang_timeout_ms",
    "max_failures", "failure_window_s", "memory_mb", "cpu_seconds", "start_timeout_s",
    "state_every_s", "isolation", "max_voices", "steal", "automation",
)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of the config."""

    id: str
    type: str
    params: Mapping[str, Any]
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """One connection; ``index`` is its position in ``connections`` (for messages)."""

    src: str
    dst: str
    gain_db: float = 0.0
    port: str = "main"
    index: int = 0
    #: ``post`` (the source's output) or ``pre`` (its input: a pre-fader send).
    tap: str = "post"


@dataclass(frozen=True, slots=True)
class GraphConfig:
    """A validated config. ``data`` keeps the original document for export and sessions."""

    file: str
    base_dir: Path
    sample_rate: int
    block_size: int
    duration: float | None
    seed: int
    nodes: Mapping[str, NodeSpec]
    connections: tuple[ConnectionSpec, ...]
    events: tuple[Any, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)
    #: Most threads for independent branches (``threads:``); None = auto.
    threads: int | None = None
    #: Things that render but are probably mistakes (audio reaching no output), located
    #: like problems; ``aers validate`` prints them and still exits 0.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
