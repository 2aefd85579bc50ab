"""What a worker runs for one variant: verify, validate, render, measure, publish.

Invariants:

* the worker trusts nothing the client checked: it builds its own registry with
  :func:`default_registry` (so every store plugin is re-verified against *this* machine's
  keyring and store) and validates the variant's config again before rendering;
* a variant is *finished* exactly when ``OUT/<id>/metrics.json`` exists. Everything is
  written into ``OUT/<id>.partial-<uuid>/`` first and the folder is renamed into place with
  ``os.replace`` as the last step, so a worker killed mid-render leaves only a partial
  folder (cleaned by the runner), never a half-finished variant;
* every failure of the variant (bad config, untrusted plugin, render error, disk full)
  comes back as a ``failed`` row with the error text; only the process dying (which Dask
  retries on another worker) escapes;
* renders are offline (see ``docs/architecture.md``, *Timing modes*): a variant in which
  a node played fallback audio is still published (nothing rendered is lost) but its row
  is ``failed``, naming the nodes, unless the sweep sets ``allow_fallback: true``; its
  ``substituted_samples`` column says how much.

Arguments are plain strings (the config as canonical JSON), so a task pickles small and
the same call works on the threaded scheduler and on a remote cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import traceback
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .._builtins import default_registry
from .._features import health_of
from .._json import dumps
from .._paths import fsync_dir
from ..config import ParsedDocument, validate_config_data
from ..errors import AersError
from ..events import scheduler_for_config
from ..graph import RenderResult, fallback_lines, node_health, render, render_metrics
from ..io import read_audio
from ..metrics import integrated_loudness, sample_peak_db
from ..plugins import NodeRegistry
from ._summary import finite_or_none, row_metrics

#: The file whose presence marks a finished variant.
METRICS_FILE: Final = "metrics.json"
#: Infix of in-progress variant folders: ``<id>.partial-<uuid>``.
PARTIAL_INFIX: Final = ".partial-"

_warm_lock = threading.Lock()
_warmed = False


def _warm_once(registry: NodeRegistry) -> None:
    """Load every DSP kernel once per worker process, before its first render.

    Without it the first variant on each worker loads numba code inside its block loop,
    and its p99 block time measures the JIT cache, not the graph.
    """
    global _warmed
    with _warm_lock:
        if not _warmed:
            from ..dsp import warm_kernels
            from ..graph import _kernels

            warm_kernels(registry.values())
            _kernels.warm()
            _warmed = True


def variant_dir(out_dir: Path, vid: str) -> Path:
    """The folder of a finished variant."""
    return out_dir / vid


def is_finished(out_dir: Path, vid: str) -> bool:
    """Whether ``vid`` finished in an earlier run (its ``metrics.json`` exists)."""
    return (variant_dir(out_dir, vid) / METRICS_FILE).is_file()


def read_metrics(out_dir: Path, vid: str) -> dict[str, Any]:
    """The ``metrics.json`` of a finished variant.

    Raises:
        OSError: missing or unreadable.
        ValueError: not JSON.
    """
    data: dict[str, Any] = json.loads(
        (variant_dir(out_dir, vid) / METRICS_FILE).read_text(encoding="utf-8")
    )
    return data


def render_variant(
    vid: str, config_json: str, base_file: str, out_dir: str, allow_fallback: bool = False
) -> dict[str, Any]:
    """[worker] Render one variant into ``out_dir/<vid>/`` and return its summary row.

    Args:
        vid: the variant id (its folder name).
        config_json: the variant's config data as JSON.
        base_file: the base config's absolute path (relative paths resolve in its folder).
        out_dir: the batch folder, visible to this worker at the same path.
        allow_fallback: a variant whose nodes played fallback audio is ``done``, not
            ``failed``.

    Returns:
        ``{"variant", "status": "done" | "failed", "error", <metric columns>}``.
    """
    try:
        metrics = _render(vid, config_json, Path(base_file), Path(out_dir))
    except Exception as err:  # every failure of the variant becomes its row, never lost
        return {"variant": vid, "status": "failed", "error": describe_error(err)}
    return variant_row(vid, metrics, "done", allow_fallback)


def variant_row(
    vid: str, metrics: Mapping[str, Any], status: str, allow_fallback: bool
) -> dict[str, Any]:
    """The summary row of a rendered variant: ``failed`` if it holds unallowed fallback audio."""
    lines = fallback_lines(metrics.get("nodes") or {}, int(metrics.get("sample_rate") or 1))
    if lines and not allow_fallback:
        error = "FallbackAudioError: " + "; ".join(lines)
        return {"variant": vid, "status": "failed", "error": error, **row_metrics(metrics)}
    return {"variant": vid, "status": status, "error": "", **row_metrics(metrics)}


def describe_error(err: BaseException) -> str:
    """One line: the error type and its message (``ConfigError`` problems joined by ``; ``).

    An error that is not an :class:`AersError` is a bug somewhere, and the worker that
    raised it may be on another machine: its innermost frame is added so the row alone
    says where to look.
    """
    text = "; ".join(line for line in str(err).splitlines() if line.strip())
    line = f"{type(err).__name__}: {text}" if text else type(err).__name__
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, AersError) or not frames:
        return line
    last = frames[-1]
    return f"{line} (at {Path(last.filename).name}:{last.lineno} in {last.name})"


def _render(vid: str, config_json: str, base_file: Path, out_dir: Path) -> dict[str, Any]:
    registry = default_registry()  # built here, on the worker: store plugins re-verified now
    _warm_once(registry)
    doc = ParsedDocument(json.loads(config_json), str(base_file))
    config = validate_config_data(doc, registry=registry, base_dir=base_file.parent)
    staging = out_dir / f"{vid}{PARTIAL_INFIX}{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        events = scheduler_for_config(config, registry)  # the scene's events, if any
        targets = events.targets() if events is not None else frozenset()
        result = render(config, registry, out_dir=staging, events=events, event_targets=targets)
        metrics = render_metrics(result)
        metrics["xruns"] = _xruns(result)
        for node in result.plan.nodes:  # what the fallback lines name
            metrics["nodes"][node.id].update(node_health(node.proc))
        metrics["levels"] = {
            node_id: _levels(path) for node_id, path in sorted(result.files.items())
        }
        metrics["outputs"] = {node_id: path.name for node_id, path in result.files.items()}
        metrics["variant"] = {"id": vid, "base": str(base_file)}
        (staging / "config.json").write_text(config_json + "\n", encoding="utf-8")
        _write_synced(staging / METRICS_FILE, dumps(metrics, indent=2) + "\n")
        if not _publish(staging, variant_dir(out_dir, vid)):
            metrics = read_metrics(out_dir, vid)  # report what is on disk, not this copy
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return metrics


def _xruns(result: RenderResult) -> int:
    """Blocks any processor missed (sandboxed plugins count them; built-ins never miss)."""
    return sum(health_of(node.proc).xruns for node in result.plan.nodes)


def _levels(path: Path) -> dict[str, float | None]:
    """Sample peak (dBFS) and integrated loudness (LUFS) of a rendered file, as written."""
    audio, rate = read_audio(path)
    return {
        "peak_db": finite_or_none(sample_peak_db(audio)),
        "lufs": finite_or_none(integrated_loudness(audio, rate)),
    }


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _publish(staging: Path, final: Path) -> bool:
    """Rename the finished staging folder to ``final`` (the commit point of a variant).

    A retried task may find ``final`` already published by an earlier attempt that the
    scheduler lost track of: the earlier, complete result stays and this copy is dropped.

    Returns:
        True when this copy was published, False when an earlier one was kept.
    """
    try:
        os.replace(staging, final)
    except OSError:
        if (final / METRICS_FILE).is_file():
            return False  # finished by another attempt; identical config, keep the first
        shutil.rmtree(final, ignore_errors=True)  # debris without metrics.json is not a result
        os.replace(staging, final)
    with contextlib.suppress(OSError):
        fsync_dir(final.parent)
    return True
