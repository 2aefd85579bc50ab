"""``aers session save|load|list|export|import|delete``: saved sessions (docs/sessions.md).

Rendering from a session is ``aers render --resume NAME``; these commands manage the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ._app import app, err_console, out_console, output_file, print_json

session_app = typer.Typer(
    help="Save, inspect, export and import sessions (graph state) in $AERS_HOME/sessions.db.",
    no_args_is_help=True,
)
app.add_typer(session_app, name="session")

NameArg = Annotated[str, typer.Argument(help="Session name.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


@session_app.command("save")
def save(
    name: NameArg,
    config: Annotated[
        Path, typer.Option("--config", help="Config to store as a fresh session (sample 0).")
    ],
    note: Annotated[str, typer.Option("--note", help="A note shown by `list`.")] = "",
) -> None:
    """Store CONFIG as session NAME at sample 0; resuming it renders CONFIG from its start.

    The graph is built as `aers graph` builds it, to refuse one that cannot run: no
    Python plugin code runs and no worker starts for it.
    """
    from .._builtins import default_registry
    from ..config import load_config
    from ..graph import build_plan
    from ..session import SessionStore, session_from_state

    registry = default_registry()
    cfg = load_config(config, registry=registry)
    # No processor state is stored: at sample 0 a node's state is the one prepare gives
    # it, and a resume prepares every node again. Asking a sandboxed node for it would
    # start its worker and run its code only to store what the resume recreates.
    build_plan(cfg, registry, describe_only=True).close()
    with SessionStore() as store:
        version = store.save(session_from_state(name, cfg, {}, registry), note=note)
    out_console.print(f"[green]✓[/green] session {name!r} saved (version {version}) from {config}")


@session_app.command("load")
def load(
    name: NameArg,
    allow_changed: Annotated[
        bool, typer.Option("--allow-changed", help="Accept changed plugin builds (warns).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check session NAME: its config still validates and its plugins still match; show it."""
    from .._builtins import default_registry
    from ..session import (
        SessionStore,
        check_plugins,
        plugin_changes,
        plugin_fingerprints,
        session_config,
    )

    registry = default_registry()
    with SessionStore() as store:
        session = store.load(name)
    cfg = session_config(session, registry)
    current = plugin_fingerprints(cfg, registry)
    changes = plugin_changes(session.plugins, current)
    summary: dict[str, Any] = {
        "name": session.name,
        "format_version": session.format_version,
        "created_at": session.created_at,
        "position": session.position,
        "seconds": session.position / cfg.sample_rate,
        "sample_rate": cfg.sample_rate,
        "block_size": cfg.block_size,
        "nodes": sorted(cfg.nodes),
        "plugins": {k: v.to_dict() for k, v in session.plugins.items()},
        "plugin_changes": changes,
        "ok": not changes or allow_changed,
    }
    if as_json:
        print_json(summary)
    else:
        out_console.print(
            f"session {session.name!r} (format {session.format_version}, saved "
            f"{session.created_at}): {len(cfg.nodes)} nodes, {cfg.sample_rate} Hz, block "
            f"{cfg.block_size}, next sample {session.position} "
            f"({summary['seconds']:.3f} s)"
        )
        for plugin, fp in session.plugins.items():
            out_console.print(f"  plugin {plugin}: {fp.version or '?'} from {fp.source}")
        for change in changes:
            err_console.print(f"[yellow]warning:[/yellow] {escape(change)}", soft_wrap=True)
    if not allow_changed:
        check_plugins(session, current)  # raises (exit 1) when a plugin changed
    if not as_json:
        out_console.print(f"[green]✓[/green] resume with: aers render --resume {session.name}")


@session_app.command("list")
def list_sessions(as_json: JsonOpt = False) -> None:
    """List saved sessions: name, version, position, save time, note."""
    from ..session import SessionStore

    with SessionStore() as store:
        infos = store.list()
    if as_json:
        rows = [
            {"name": i.name, "version": i.version, "saved_at": i.saved_at,
             "position": i.position, "note": i.note, "bytes": i.size}
            for i in infos
        ]  # fmt: skip
        print_json(rows)
        return
    if not infos:
        out_console.print("no sessions (save one: aers render CONFIG --save-session NAME)")
        return
    table = Table(title=f"sessions in {store.path}")
    for column in ("name", "version", "next sample", "saved", "size", "note"):
        table.add_column(
            column, justify="right" if column in ("version", "next sample") else "left"
        )
    for i in infos:
        table.add_row(
            i.name, str(i.version), str(i.position), i.saved_at, f"{i.size / 1024:.0f} KiB", i.note
        )
    out_console.print(table)


@session_app.command("export")
def export(
    name: NameArg,
    yaml_file: Annotated[
        Path, typer.Option("--yaml", help="YAML file to write.", callback=output_file)
    ],
) -> None:
    """Write session NAME to a YAML file (readable config, compact exact state)."""
    from ..session import SessionStore, export_yaml

    with SessionStore() as store:
        session = store.load(name)
    export_yaml(session, yaml_file)
    out_console.print(f"[green]✓[/green] session {name!r} → {yaml_file}")


@session_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Session YAML file.", show_default=False)],
    name: Annotated[
        str | None, typer.Option("--name", help="Store it under this name instead.")
    ] = None,
) -> None:
    """Validate a session YAML file (config included) and store it as a new version."""
    from .._builtins import default_registry
    from ..session import SessionStore, import_yaml

    session = import_yaml(file, registry=default_registry(), name=name)
    with SessionStore() as store:
        version = store.save(session)
    out_console.print(
        f"[green]✓[/green] imported {file} as session {session.name!r} (version {version})"
    )


@session_app.command("delete")
def delete(name: NameArg) -> None:
    """Remove session NAME and all its saved versions."""
    from ..session import SessionStore

    with SessionStore() as store:
        store.delete(name)
    out_console.print(f"[green]✓[/green] session {name!r} deleted")
