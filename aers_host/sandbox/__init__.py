"""Sandboxed Python plugins: fenced worker processes, shared-memory audio, deadlines."""

from ._dev import load_plugin_dir
from ._fusion import FusedRun, fuse_sandboxed_runs
from ._host import SandboxedProcessor
from ._inprocess import InProcessProcessor
from ._lint import check_plugin_files, lint_plugin_files
from ._loader import load_python_chain, load_python_plugin, probe_fences
from ._options import NodeOptions
from ._protocol import cleanup_stale_segments
from ._refused import RefusedProcessor
from ._scope import WorkerScope, shared_workers

__all__ = [
    "FusedRun",
    "InProcessProcessor",
    "NodeOptions",
    "RefusedProcessor",
    "SandboxedProcessor",
    "WorkerScope",
    "check_plugin_files",
    "cleanup_stale_segments",
    "fuse_sandboxed_runs",
    "lint_plugin_files",
    "load_plugin_dir",
    "load_python_chain",
    "load_python_plugin",
    "probe_fences",
    "shared_workers",
]
