"""Where each ``aers`` command lives, so a run imports only the command it runs.

``aers --help``, ``--version`` and shell completion list commands from :data:`COMMANDS`
without importing a single command module; ``aers validate`` imports ``_graph`` and what
it needs, never the plugin-signing, session or server modules. Each command module still
registers its commands on the shared typer ``app`` as usual: :class:`LazyCommands` (the
root group) imports the module named here the moment the command is resolved, then takes
the click command typer builds for it.

Invariant (tested): every command the modules register is listed here, with the first
line of its docstring as ``summary``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Final

from typer.core import TyperCommand, TyperGroup

from .._hints import did_you_mean


@dataclass(frozen=True, slots=True)
class CommandEntry:
    """A top-level command: the modules that register it and its line in ``aers --help``."""

    modules: tuple[str, ...]
    summary: str


#: Every top-level command, in the order ``aers --help`` lists them.
COMMANDS: Final[dict[str, CommandEntry]] = {
    "validate": CommandEntry(
        ("._graph",),
        "Check a config; print every problem as FILE:LINE: path: message (hint); exit 1 if any.",
    ),
    "graph": CommandEntry(
        ("._graph",),
        "Show the processing order, each node's latency and the graph's total latency.",
    ),
    "render": CommandEntry(
        ("._graph",),
        "Render every output node to OUT_DIR/<node-id>.wav and write OUT_DIR/metrics.json.",
    ),
    "run": CommandEntry(
        ("._run",),
        "Run CONFIG in real time (paced to the wall clock), showing deadline misses live.",
    ),
    "serve": CommandEntry(
        ("._serve",),
        "Run CONFIG in real time and serve the live dashboard, WebSocket feed and REST API.",
    ),
    "edit": CommandEntry(
        ("._edit",),
        "Apply a live edit to a running `aers serve`; print the sample it took effect at.",
    ),
    "events": CommandEntry(
        ("._events", "._dataset"),
        "Scene events: generate seeded scenes, record and replay event logs.",
    ),
    "plugin": CommandEntry(
        ("._plugin", "._lv2"), "Write, build, sign, verify, install and list plugins."
    ),
    "keys": CommandEntry(
        ("._keys",), "Make Ed25519 signing keys and manage which public keys are trusted."
    ),
    "session": CommandEntry(
        ("._session",),
        "Save, inspect, export and import sessions (graph state) in $AERS_HOME/sessions.db.",
    ),
    "node": CommandEntry(("._node",), "Remote processing nodes (WebSocket or TCP)."),
    "batch": CommandEntry(
        ("._batch",),
        "Render every variant of SWEEP into OUT_DIR/<variant-id>/; finished variants are "
        "skipped.",
    ),
    "doctor": CommandEntry(
        ("._doctor",),
        "Report what this machine offers (sandbox fences, compilers, paths); --warm the JIT.",
    ),
}


def load_all() -> None:
    """Import every command module (tests, and anything that wants the whole typer ``app``)."""
    for entry in COMMANDS.values():
        for module in entry.modules:
            import_module(module, __package__)


class LazyCommands(TyperGroup):
    """The root ``aers`` group: lists :data:`COMMANDS`, imports a command when it runs.

    Listing (help, completion of command names) gets a stand-in carrying the summary;
    :meth:`resolve_command` — the one path by which click runs a sub-command or descends
    into it for its help and option completion — swaps in the real command first.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run ``aers``, with the flags of the root (and any loaded command) shown as flags.

        typer's help and usage-error renderer is imported first, lean
        (:func:`~._rich_help.import_rich_utils`), before typer itself would.
        """
        from ._app import flag_metavars
        from ._rich_help import import_rich_utils

        import_rich_utils()
        flag_metavars(self)
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, in :data:`COMMANDS` order."""
        return [*COMMANDS, *(name for name in self.commands if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The loaded command, or a stand-in that only describes an unloaded one."""
        command = self.commands.get(cmd_name)
        entry = COMMANDS.get(cmd_name)
        if command is None and entry is not None:
            return TyperCommand(cmd_name, help=entry.summary)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Load the named command (importing its modules), then resolve as click does.

        A command missing from :data:`COMMANDS` (a test fails for it) still runs: every
        module is imported before the name is refused.
        """
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.commands:
            command = _build(name)
            if command is None:
                hint = did_you_mean(name, self.list_commands(ctx), n=3)
                ctx.fail(f"No such command {name!r}. {hint[:1].upper()}{hint[1:]}".rstrip())
            self.add_command(command, name)
        return super().resolve_command(ctx, args)


def _build(name: str) -> Any:
    """The click command typer builds for ``name`` after importing its modules (or None)."""
    import typer

    from ._app import app, flag_metavars

    entry = COMMANDS.get(name)
    if entry is None:
        load_all()
    else:
        for module in entry.modules:
            import_module(module, __package__)
    command = typer.main.get_command(app).commands.get(name)  # type: ignore[attr-defined]
    if command is not None:
        flag_metavars(command)
    return command
