"""``aers events generate|record|generators``: seeded scenes and event logs.

``generate`` writes a JSONL scene that ``scene:`` in a config (or ``load_scene``) accepts.
``record`` renders a config and writes its event log — what played, where and on which
sample at every node; ``record --replay LOG`` re-renders from a log, which with the same
config is bit-identical (the log carries sample positions and generator seeds).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, Problem
from ._app import app, err_console, finite_seconds, out_console, output_file, print_json
from ._graph import AllowFallbackOpt, BlockOpt, DurationOpt, HangLimitOpt

#: The scene kinds of ``events.SCENE_KINDS``, spelled out so ``aers --help`` need not import
#: the events package (and scipy); a test keeps the two equal.
KINDS_HELP = "footsteps, dialogue, explosion, ambience, tone, impulse, mixed"

events_app = typer.Typer(
    name="events",
    help="Scene events: generate seeded scenes, record and replay event logs.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")


@events_app.command("generate")
def generate(
    kind: Annotated[str, typer.Option("--kind", help=f"One of: {KINDS_HELP}.")],
    count: Annotated[int, typer.Option("--count", min=1, help="Number of events.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Scene seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option(
            "--out", help="JSONL file to write (default: stdout).", callback=output_file
        )
    ] = None,
    duration: Annotated[
        float, typer.Option(
            "--duration",
            min=0.001,
            help="Seconds over which events start.",
            callback=finite_seconds,
        )
    ] = 30.0,
    max_polyphony: Annotated[
        int | None, typer.Option("--max-polyphony", min=1, help="Most overlapping per category.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Target node (default: the config's routing).")
    ] = None,
) -> None:
    """Write a seeded scene of COUNT events of KIND (same arguments, same scene)."""
    from ..events import SCENE_KINDS, generate_scene, write_scene
    from ..events._scene import MAX_SCENE_EVENTS

    if kind not in SCENE_KINDS:
        raise typer.BadParameter(
            f"{kind!r}; choose one of {', '.join(SCENE_KINDS)}", param_hint="--kind"
        )
    if count > MAX_SCENE_EVENTS:  # a scene's limit: validate and render refuse longer ones
        raise typer.BadParameter(
            f"at most {MAX_SCENE_EVENTS:,} events (a scene's limit)",
            param_hint="--count",
        )
    records = generate_scene(
        kind, count, seed, duration=duration, max_polyphony=max_polyphony, to=to
    )
    write_scene(records, out)
    if out is not None:
        err_console.print(f"[green]✓[/green] {count} {kind} events (seed {seed}) → {out}")


@events_app.command("generators")
def generators(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the built-in event generators and their parameters."""
    from ..events import BUILTIN_GENERATORS

    if as_json:
        print_json([
            {
                "name": name,
                "summary": gen.summary,
                "finite": gen.natural_seconds({}) is not None,
                "params": {
                    s.name: {"default": s.default, "min": s.min, "max": s.max, "unit": s.unit}
                    for s in gen.specs
                },
                "choices": {k: list(v) for k, v in gen.choices.items()},
            }
            for name, gen in BUILTIN_GENERATORS.items()
        ])
        return
    for name, gen in BUILTIN_GENERATORS.items():
        params = [f"{s.name}={s.default:g}" for s in gen.specs]
        params += [f"{k}={'|'.join(v)}" for k, v in gen.choices.items()]
        length = "needs duration" if gen.natural_seconds({}) is None else "finite"
        out_console.print(
            f"[bold]{name}[/bold] ({length}): {gen.summary}; {', '.join(params) or '-'}"
        )


def _config_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@events_app.command("record")
def record(
    config: Annotated[Path, typer.Argument(help="Routing config with events.", show_default=False)],
    out: Annotated[
        Path, typer.Option("--out", help="Event log (JSONL) to write.", callback=output_file)
    ],
    duration: DurationOpt = None,
    block_size: BlockOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Also write the rendered outputs here.")
    ] = None,
    replay: Annotated[
        Path | None, typer.Option("--replay", help="Play the events of this log instead.")
    ] = None,
    allow_fallback: AllowFallbackOpt = False,
    hang_limit: HangLimitOpt = None,
) -> None:
    """Render CONFIG and write its event log: per event, every node's sample in and out.

    Offline timing, as aers render: exit 1, after writing, if a node played fallback audio.
    """
    from .._builtins import default_registry
    from .._timing import Timing
    from ..graph import plan_fallback_lines, render
    from ._graph import _load, report_fallback

    registry = default_registry()
    cfg = _load(config, block_size, duration, registry)
    from ..events import log_entries_for_plan, scheduler_for_config, write_event_log

    scheduler = scheduler_for_config(cfg, registry, replay=replay)
    if scheduler is None:
        raise ConfigError(
            [
                Problem(
                    str(config),
                    0,
                    "events",
                    "the config has no events to record",
                    "add `events:` or `scene: FILE.jsonl`, or pass --replay LOG",
                )
            ]
        )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    result = render(
        cfg,
        registry,
        out_dir=out_dir,
        duration=duration,
        events=scheduler,
        event_targets=scheduler.targets(),
        timing=Timing(realtime=False, hang_limit_s=hang_limit),
    )
    entries = log_entries_for_plan(scheduler, result.plan)
    write_event_log(
        out,
        entries,
        sample_rate=cfg.sample_rate,
        block_size=cfg.block_size,
        config=str(config),
        config_sha256=_config_sha256(config),
        frames=result.frames,
        total_latency=result.plan.total_latency,
        seed=cfg.seed,
        replayed_from=str(replay) if replay else None,
    )
    status = Counter(str(e["status"]) for e in entries)
    detail = ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
    err_console.print(f"[green]✓[/green] {len(entries)} events ({detail}) → {out}")
    lines = plan_fallback_lines(result.plan, result.substituted)
    report_fallback(lines, allowed=allow_fallback)
    for node_id, path in result.files.items():
        err_console.print(f"[green]✓[/green] {node_id} → {path}")
