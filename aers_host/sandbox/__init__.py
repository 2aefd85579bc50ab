"""Sandboxed Python plugins: fenced worker processes, shared-memory audio, deadlines."""

from ._host import SandboxedProcessor
from ._inprocess import InProcessProcessor
from ._loader import load_python_chain, load_python_plugin, probe_fences
from ._options import NodeOptions, StageSpec
from ._protocol import cleanup_stale_segments

__all__ = [
    "InProcessProcessor",
    "NodeOptions",
    "SandboxedProcessor",
    "StageSpec",
    "cleanup_stale_segments",
    "load_python_chain",
    "load_python_plugin",
    "probe_fences",
]
