"""Dataset outputs on the command line: ``aers render --stems…`` and ``aers events from-jams``.

``aers render`` owns its flags; it calls :func:`stem_mode` and :func:`prepare_stems` before
rendering (bad flag combinations and nonlinear graphs fail before any audio is made) and
:func:`write_stems` after. ``from-jams`` joins the ``aers events`` group from here, so
``_events.py`` stays untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._extras import require_extra
from ._app import err_console, output_file
from ._events import events_app

if TYPE_CHECKING:
    from ..config import GraphConfig
    from ..dataset import StemMode
    from ..events import EventScheduler
    from ..plugins import NodeRegistry


def stem_mode(exact: bool, residual: bool, pre: bool, resume: str | None) -> StemMode | None:
    """The stem mode the flags ask for (None: no stems).

    Raises:
        typer.BadParameter: more than one stem flag, or stems with ``--resume``.
    """
    flags: tuple[tuple[StemMode, bool], ...] = (
        ("exact", exact),
        ("residual", residual),
        ("pre", pre),
    )
    chosen = [mode for mode, on in flags if on]
    if not chosen:
        return None
    if len(chosen) > 1:
        raise typer.BadParameter(
            "give one of --stems, --stems-residual, --stems-pre", param_hint="--stems"
        )
    if resume is not None:
        raise typer.BadParameter(
            "stems are rendered from sample 0; they cannot follow --resume", param_hint="--stems"
        )
    return chosen[0]


def prepare_stems(
    cfg: GraphConfig, registry: NodeRegistry, mode: StemMode | None
) -> EventScheduler | None:
    """The scheduler stems will play; exact stems of a nonlinear graph fail here, early.

    Raises:
        ConfigError: stems asked for, but the config has no (valid) events.
        NonlinearStemsError: ``exact`` mode and a nonlinear node on an event path.
    """
    if mode is None:
        return None
    require_extra("dataset", "aers render --stems")  # stems come with a JAMS annotation
    from ..dataset import NonlinearStemsError, nonlinear_nodes
    from ..errors import ConfigError, Problem
    from ..events import scheduler_for_config

    scheduler = scheduler_for_config(cfg, registry)
    if scheduler is None:
        hint = "add `events:` or `scene: FILE.jsonl`"
        raise ConfigError([Problem(cfg.file, 0, "events", "no events to make stems of", hint)])
    found = nonlinear_nodes(cfg, registry, scheduler.targets())
    if mode == "exact" and found:
        raise NonlinearStemsError(cfg.file, found)
    return scheduler


def write_stems(
    cfg: GraphConfig,
    registry: NodeRegistry,
    out_dir: Path,
    scheduler: EventScheduler,
    mode: StemMode,
    config: Path | None,
    duration: float | None,
) -> dict[str, Any]:
    """Write stems and the JAMS annotation; print a summary; return it for metrics.json.

    Raises:
        ConfigError: the config has no events.
        NonlinearStemsError: ``exact`` mode on a nonlinear graph.
        AudioIOError: a file cannot be written.
    """
    from ..dataset import TOLERANCE_DBFS, write_dataset

    report, jams_path = write_dataset(
        cfg,
        registry,
        out_dir,
        mode=mode,
        config_path=config,
        duration=duration,
        scheduler=scheduler,
    )
    residual = report.residual_dbfs()
    if mode == "pre":
        level = "dry, at the targets"
    else:
        meaning = "rounding" if mode == "exact" else "nonlinear interaction"
        shown = "silent" if residual is None else f"{residual:.1f} dBFS"
        level = f"residual {shown}: {meaning}"
    err_console.print(
        f"[green]✓[/green] {len(report.event_files)} event stems ({mode}, {level}) "
        f"→ {report.root}; annotation → {jams_path}"
    )
    if not report.within_tolerance():
        err_console.print(
            f"[yellow]warning:[/yellow] the stems alone miss the mix by more than "
            f"{TOLERANCE_DBFS:g} dBFS (float32 rounding in reverb feedback adds up over many "
            "events); add residual.wav to make the sum exact"
        )
    return {
        "mode": mode,
        "root": str(report.root),
        "jams": str(jams_path),
        "worst_error_dbfs": report.worst_error_dbfs(),
        "residual_dbfs": residual,
        "within_tolerance": report.within_tolerance(),
    }


@events_app.command("from-jams")
def from_jams(
    annotation: Annotated[
        Path, typer.Argument(help="JAMS file from `aers render --stems`.", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option(
            "--out", help="Scene JSONL to write (default: stdout).", callback=output_file
        )
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", help="Which output's annotation to read.")
    ] = None,
) -> None:
    """Regenerate the scene of an annotation: `scene: OUT` in the same config re-renders it."""
    require_extra("dataset", "aers events from-jams")
    from ..dataset import scene_from_jams
    from ..events import write_scene

    records = scene_from_jams(annotation, output)
    write_scene(records, out)
    if out is not None:
        err_console.print(f"[green]✓[/green] {len(records)} events → {out}")
