"""One call for ``aers render --stems``: stems, their manifest and the JAMS annotation.

Example:
    >>> report, jams_path = write_dataset(cfg, registry, Path("out"),   # doctest: +SKIP
    ...                                   config_path=Path("demo.yaml"))
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ._jams import save_jams, scene_jams
from ._stems import StemMode, StemsReport, render_stems

if TYPE_CHECKING:
    from .._nodetype import NodeType
    from ..config import GraphConfig
    from ..events import EventScheduler


def write_dataset(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    out_dir: Path,
    *,
    mode: StemMode = "exact",
    config_path: Path | None = None,
    duration: float | None = None,
    scheduler: EventScheduler | None = None,
) -> tuple[StemsReport, Path]:
    """Write ``OUT/stems/…`` (or ``stems-pre/…``) and ``OUT/<config-stem>.jams``.

    Args:
        config: the validated config.
        registry: node types.
        out_dir: the render's output folder.
        mode: ``exact``, ``residual`` or ``pre`` (see :func:`render_stems`).
        config_path: the config file, recorded in the annotation.
        duration: seconds to render (else the config's).
        scheduler: the prepared scheduler (default: built from the config's events).

    Returns:
        The stems report and the JAMS file's path.

    Raises:
        ConfigError: the config has no events.
        NonlinearStemsError: ``exact`` mode on a nonlinear graph (nothing is written).
        GraphError: the graph cannot be built or rendered.
        AudioIOError: a stem cannot be written.
    """
    report = render_stems(
        config, registry, out_dir, mode=mode, scheduler=scheduler, duration=duration
    )
    jam = scene_jams(report, config, config_path=config_path)
    stem = config_path.stem if config_path else Path(config.file).stem
    return report, save_jams(jam, out_dir / f"{stem}.jams")
