"""``aers validate``, ``aers graph`` and ``aers render``: the config-to-audio commands."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .._extras import require_extra
from ..errors import ConfigError, Problem
from ._app import app, err_console, finite_seconds, out_console, output_file, print_json

ConfigArg = Annotated[
    Path, typer.Argument(help="Routing config (YAML or JSON).", show_default=False)
]
BlockOpt = Annotated[
    int | None, typer.Option("--block-size", min=32, max=8192, help="Override block_size.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
if TYPE_CHECKING:  # each command imports what it runs: ``aers --help`` stays quick
    from ..config import GraphConfig
    from ..graph import Plan
    from ..plugins import NodeRegistry

DurationOpt = Annotated[
    float | None,
    typer.Option("--duration", min=0.001, help="Seconds to render.", callback=finite_seconds),
]
AllowFallbackOpt = Annotated[
    bool,
    typer.Option(
        "--allow-fallback",
        help="Exit 0 even if a node played fallback audio (offline renders exit 1 otherwise; "
        "metrics.json lists the substituted samples either way).",
    ),
]
HangLimitOpt = Annotated[
    float | None,
    typer.Option(
        "--hang-limit",
        min=0.001,
        max=3600.0,
        help="Offline timing: seconds a sandboxed or remote node may take for one block "
        "before it counts as hung (restart, one retry, then fallback). Default 10; a "
        "node's hang_limit_s option wins. Renders never use real-time deadlines.",
        callback=finite_seconds,
    ),
]


def _threads_option(value: str | None) -> str | None:
    """Check ``--threads`` (``auto`` or 1 … 64) where typer parses it (exit 2 otherwise)."""
    if value is None or value == "auto":
        return value
    from .._limits import MAX_THREADS

    if not value.isdigit() or not 1 <= int(value) <= MAX_THREADS:
        raise typer.BadParameter(f"give 1 … {MAX_THREADS} or auto, not {value!r}")
    return value


ThreadsOpt = Annotated[
    str | None,
    typer.Option(
        "--threads",
        help="Most threads for independent branches: 1 … 64 or auto (default: the "
        "config's threads, else auto). Never changes the audio.",
        callback=_threads_option,
    ),
]


def with_threads(cfg: GraphConfig, threads: str | None) -> GraphConfig:
    """``cfg`` with ``--threads`` applied (None: the config's own ``threads`` stays)."""
    import dataclasses

    if threads is None:
        return cfg
    return dataclasses.replace(cfg, threads=None if threads == "auto" else int(threads))


def _load(
    config: Path,
    block_size: int | None = None,
    duration: float | None = None,
    registry: NodeRegistry | None = None,
    require_length: bool = False,
) -> GraphConfig:
    """Load CONFIG with the CLI overrides (the registry is built once per command)."""
    from .._builtins import default_registry
    from ..config import load_config

    overrides: dict[str, Any] = {}
    if block_size is not None:
        overrides["block_size"] = block_size
    if duration is not None:
        overrides["duration"] = duration
    return load_config(
        config,
        registry=registry or default_registry(),
        overrides=overrides,
        require_length=require_length,
    )


def _as_dict(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "path": problem.path,
        "message": problem.message,
        "hint": problem.hint,
    }


@app.command()
def validate(config: ConfigArg, as_json: JsonOpt = False) -> None:
    """Check a config; print every problem as FILE:LINE: path: message (hint); exit 1 if any.

    Checks what `render` would refuse too (no duration with an endless source). Warnings
    (audio that reaches no output) are printed prefixed `warning:` and leave the exit at 0.
    """
    from .._builtins import default_registry
    from ..config import inspect_config
    from ..events import events_for_config  # the scene too: parsed, not rendered

    warnings: tuple[Problem, ...] = ()
    try:
        found = inspect_config(config, registry=default_registry(), require_length=True)
    except ConfigError as err:  # unreadable or unparsable: nothing more to check
        problems = err.problems
    else:
        problems, warnings = list(found.problems), found.config.warnings
        try:
            events_for_config(found.config)
        except ConfigError as err:
            problems.extend(err.problems)
    if as_json:
        print_json(
            {
                "ok": not problems,
                "problems": [_as_dict(p) for p in problems],
                "warnings": [_as_dict(w) for w in warnings],
                **({} if problems else {"nodes": len(found.config.nodes)}),
            }
        )
    else:
        for problem in problems:
            print(problem)  # plain stdout: one greppable line per problem
        for warning in warnings:
            print(f"warning: {warning}")
    if problems:
        raise typer.Exit(1)
    if not as_json:
        cfg = found.config
        out_console.print(
            f"[green]✓[/green] {config}: {len(cfg.nodes)} nodes, "
            f"{len(cfg.connections)} connections, "
            f"{cfg.sample_rate} Hz, block {cfg.block_size}"
        )


def _dot(plan: Plan) -> str:
    lines = ["digraph aers {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for node in plan.nodes:
        label = f"{node.id}\\n{node.type_name}"
        if node.latency:
            label += f"\\nlatency {node.latency}"
        lines.append(f'  "{node.id}" [label="{label}"];')
    for conn in plan.config.connections:
        attrs = []
        if conn.gain_db:
            attrs.append(f'label="{conn.gain_db:+g} dB"')
        if conn.port != "main":
            attrs.append("style=dashed")
        if plan.index[conn.src] >= plan.index[conn.dst]:  # feedback edge
            attrs.append("constraint=false, color=red")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{conn.src}" -> "{conn.dst}"{suffix};')
    lines.append("}")
    return "\n".join(lines)


@app.command()
def graph(
    config: ConfigArg,
    dot: Annotated[
        bool, typer.Option("--dot", help="Print Graphviz DOT instead of a table.")
    ] = False,
    block_size: BlockOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the processing order, each node's latency and the graph's total latency."""
    from .._builtins import default_registry
    from ..graph import build_plan, describe

    registry = default_registry()
    cfg = _load(config, block_size, registry=registry)
    plan = build_plan(cfg, registry, describe_only=True)  # Python plugins: no worker start
    try:
        if dot:
            print(_dot(plan))
            return
        rows = describe(plan)
        if as_json:
            print_json({"nodes": rows, "total_latency_samples": plan.total_latency})
            return
        table = Table(title=f"{config} — processing order")
        for column in ("#", "node", "type", "ch in→out", "latency", "path latency", "notes"):
            table.add_column(
                column, justify="right" if column in ("#", "latency", "path latency") else "left"
            )
        for row in rows:
            notes = []
            if row["feedback"]:
                notes.append("feedback delay")
            notes += [f"+{d} from {src}" for src, d in row["compensation"].items()]
            table.add_row(
                str(row["order"]),
                row["id"],
                row["type"],
                f"{row['channels_in']}→{row['channels_out']}",
                str(row["latency_samples"]),
                str(row["path_latency_samples"]),
                ", ".join(notes),
            )
        out_console.print(table)
        ms = plan.total_latency * 1000.0 / plan.sample_rate
        out_console.print(
            f"total latency: {plan.total_latency} samples ({ms:.2f} ms at {plan.sample_rate} Hz)"
        )
    finally:
        plan.close()


OptConfigArg = Annotated[
    Path | None,
    typer.Argument(help="Routing config (optional with --resume).", show_default=False),
]


@app.command("render")
def render_command(
    config: OptConfigArg = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Folder for <output-id>.wav and metrics.json.")
    ] = Path("out"),
    duration: DurationOpt = None,
    block_size: BlockOpt = None,
    save_session: Annotated[
        str | None,
        typer.Option("--save-session", help="At the end, save the graph state as session NAME."),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", help="Continue session NAME from its saved sample position."),
    ] = None,
    allow_changed: Annotated[
        bool,
        typer.Option("--allow-changed", help="Resume even if a plugin build changed (warns)."),
    ] = False,
    stems: Annotated[
        bool, typer.Option("--stems", help="Also write exact per-event/bus stems + JAMS.")
    ] = False,
    stems_residual: Annotated[
        bool, typer.Option("--stems-residual", help="Stems plus residual.wav (nonlinear graphs).")
    ] = False,
    stems_pre: Annotated[
        bool, typer.Option("--stems-pre", help="Dry stems at each event's target node + JAMS.")
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write OUT_DIR/report.html with plots.")
    ] = False,
    replay: Annotated[
        Path | None, typer.Option("--replay", help="Replay the events of an event log (JSONL).")
    ] = None,
    event_log: Annotated[
        Path | None, typer.Option(
            "--event-log", help="Write this run's event log (JSONL).", callback=output_file
        )
    ] = None,
    csv: Annotated[
        Path | None, typer.Option(
            "--csv", help="Write the per-block metrics time series.", callback=output_file
        )
    ] = None,
    prometheus: Annotated[
        Path | None, typer.Option(
            "--prometheus", help="Write metrics in Prometheus text format.", callback=output_file
        )
    ] = None,
    allow_fallback: AllowFallbackOpt = False,
    hang_limit: HangLimitOpt = None,
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render every output node to OUT_DIR/<node-id>.wav and write OUT_DIR/metrics.json.

    Offline timing: every node's result is waited for, so machine load and block size
    never change the audio. A node that hangs past --hang-limit is restarted and its block
    retried once; if it still plays fallback audio the files are kept, each such node is
    named, and the command exits 1 (unless --allow-fallback).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .._builtins import default_registry
    from .._pipeline import render_run
    from .._timing import Timing
    from ..graph import fallback_lines
    from ._dataset import prepare_stems, stem_mode, write_stems

    if report:
        require_extra("report", "aers render --report")
    registry = default_registry()
    stems_mode = stem_mode(stems, stems_residual, stems_pre, resume)
    start, state = 0, None
    if resume is not None:
        cfg, start, state = _resume(resume, config, registry, block_size, duration, allow_changed)
    elif config is None:
        raise typer.BadParameter("give a CONFIG, or --resume NAME", param_hint="CONFIG")
    else:
        cfg = _load(config, block_size, duration, registry, require_length=True)
    cfg = with_threads(cfg, threads)
    stems_scheduler = prepare_stems(cfg, registry, stems_mode)  # fails before rendering
    show_bar = sys.stderr.isatty() and not as_json
    with Progress(
        TextColumn("[bold]rendering[/bold]"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task("render", total=None)
        outcome = render_run(
            cfg,
            registry,
            out_dir=out_dir,
            duration=duration,
            start=start,
            initial_state=state,
            replay=replay,
            report=report,
            csv=csv,
            prometheus=prometheus,
            event_log=event_log,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            timing=Timing(realtime=False, hang_limit_s=hang_limit),
        )
    result, metrics = outcome.result, outcome.metrics
    if save_session is not None:
        from ..session import SessionStore, session_from_state

        with SessionStore() as store:
            session = session_from_state(save_session, cfg, result.state, registry)
            version = store.save(session)
        metrics["session"] = {
            "name": save_session,
            "version": version,
            "position": session.position,
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    if stems_mode is not None and stems_scheduler is not None:
        metrics["stems"] = write_stems(
            cfg, registry, out_dir, stems_scheduler, stems_mode, config, duration
        )
    from ..metrics import write_json

    write_json(metrics, out_dir / "metrics.json")
    substituted = fallback_lines(metrics.get("nodes") or {}, cfg.sample_rate)
    if as_json:
        print_json(metrics)
        if substituted and not allow_fallback:
            raise typer.Exit(1)
        return
    for node_id, path in result.files.items():
        out_console.print(f"[green]✓[/green] {node_id} → {path}")
    report_node_health(metrics, skip=set(metrics.get("substituted_nodes") or ()))
    out_console.print(
        f"{result.frames / cfg.sample_rate:.2f} s of audio in {result.wall_seconds:.2f} s "
        f"({result.realtime_factor:.0f}× real time); "
        f"total latency {result.plan.total_latency} samples; "
        f"metrics → {out_dir / 'metrics.json'}"
    )
    if report:
        out_console.print(f"[green]✓[/green] report → {out_dir / 'report.html'}")
    if "session" in metrics:
        saved = metrics["session"]
        out_console.print(
            f"[green]✓[/green] session {save_session!r} saved "
            f"(version {saved['version']}, next sample {saved['position']})"
        )
    report_fallback(substituted, allowed=allow_fallback)


def report_fallback(lines: list[str], *, allowed: bool) -> None:
    """One line per node that played fallback audio; exit 1 unless fallback is allowed.

    The audio and metrics.json are written before this runs: nothing rendered is lost.

    Raises:
        typer.Exit: code 1 when a node played fallback audio and ``allowed`` is False.
    """
    label = "warning" if allowed else "error"
    colour = "yellow" if allowed else "red"
    for line in lines:
        err_console.print(
            f"[{colour}]{label}:[/{colour}] {escape(line)}", soft_wrap=True, highlight=False
        )
    if lines and not allowed:
        err_console.print(
            "the files hold fallback audio where listed (metrics.json: substituted); "
            "pass --allow-fallback to accept it (or --hang-limit, if a node was only slow)",
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(1)


def report_node_health(
    metrics: Mapping[str, Any], skip: set[str] | frozenset[str] = frozenset()
) -> None:
    """One warning line per node that failed, restarted, missed deadlines or produced NaN.

    Sandboxed plugins are contained, not silent: the run completes on their fallback audio,
    so the terminal must say which node did what (metrics.json has the same fields).
    Nodes in ``skip`` are reported elsewhere (an offline render's fallback lines).
    """
    for node_id, node in dict(metrics.get("nodes") or {}).items():
        if node_id in skip:
            continue
        facts = []
        if node.get("failed"):
            reason = node.get("failure_reason")
            facts.append(f"failed ({reason}); its fallback played" if reason else "failed")
        for key, what in (
            ("xruns", "blocks late (fallback audio)"),
            ("nan_blocks", "blocks of NaN/Inf replaced"),
            ("nonfinite_blocks", "blocks of NaN/Inf output replaced by the engine"),
            ("restarts", "worker restarts"),
        ):
            if node.get(key):
                facts.append(f"{node[key]} {what}")
        if facts:
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(f'node {node_id!r}: ' + '; '.join(facts))}",
                soft_wrap=True,
                highlight=False,
            )


def _resume(
    name: str,
    config: Path | None,
    registry: NodeRegistry,
    block_size: int | None,
    duration: float | None,
    allow_changed: bool,
) -> tuple[GraphConfig, int, dict[str, Any]]:
    """Load session ``name``: its config (or CONFIG), start sample and engine state."""
    from ..session import (
        SessionStore,
        check_plugins,
        plugin_changes,
        plugin_fingerprints,
        session_config,
    )

    with SessionStore() as store:
        session = store.load(name)
    if config is not None:
        cfg = _load(config, block_size, duration, registry)
    else:
        overrides: dict[str, Any] = {"block_size": block_size} if block_size else {}
        if duration is not None:
            overrides["duration"] = duration
        cfg = session_config(session, registry, overrides)
    current = plugin_fingerprints(cfg, registry)
    changes = plugin_changes(session.plugins, current)
    if not allow_changed:
        check_plugins(session, current)  # refuses when anything changed
    for change in changes:
        err_console.print(f"[yellow]warning:[/yellow] {escape(change)}", soft_wrap=True)
    return cfg, session.position, session.engine_state()
