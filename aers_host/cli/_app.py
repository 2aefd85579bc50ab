"""The ``aers`` command: one typer app, sub-apps per domain, one error funnel.

User mistakes (``AersError``) print one readable line per problem and exit 1; usage errors
exit 2 (typer); anything else is a bug in AERS and exits 3 with the traceback on stderr.
"""

from __future__ import annotations

import math
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperOption

from ..errors import AersError
from ._commands import LazyCommands

EXIT_FAILED = 1
EXIT_INTERNAL = 3

#: Everything for humans goes to stderr; stdout is for results (``--json``, DOT, tables).
#: No ``:emoji:`` codes: messages quote paths and names the user wrote (``a:smile:b`` must
#: print as written), and the emoji table is an import every printing command would pay.
err_console = Console(stderr=True, highlight=False, emoji=False)
out_console = Console(highlight=False, emoji=False)

app = typer.Typer(
    name="aers",
    help="AERS — Audio Event Routing Simulator: validate, plan, render and run audio routing "
    "graphs with built-in, sandboxed and signed native plugins.",
    no_args_is_help=True,
    cls=LazyCommands,  # imports a command's module only when that command runs
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    """Eager ``--version``: print and exit before any command or config is looked at."""
    if value:
        from ._entry import version_line

        sys.stdout.write(version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Options of ``aers`` itself (the help text above is the app's ``help``)."""


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout (rich's highlighter is slow on big graphs)."""
    from .._json import dumps  # numpy: only for commands that print JSON

    sys.stdout.write(dumps(data, indent=2) + "\n")


def output_file(path: Path | None) -> Path | None:
    """Typer callback for options naming a file to write: settle where it goes before any work.

    A render that fails on its last write would have spent its time and left half its
    outputs behind. Like ``--out-dir``, a missing folder is created; one that cannot be
    (a file in the way, no permission) or a path that is itself a folder is refused here.
    """
    if path is None or str(path) == "-":
        return path
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder; give a file name")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise typer.BadParameter(f"cannot create folder {folder}: {err.strerror or err}") from err
    if not os.access(folder, os.W_OK):
        raise typer.BadParameter(f"folder {folder} is not writable")
    return path


def finite_seconds(value: float | None) -> float | None:
    """Typer callback for durations: ``inf``/``nan`` parse as floats but are no length."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    return value


def report_error(err: AersError) -> None:
    """Print an AersError as one ``error:`` line per problem.

    The message is escaped: it quotes user input and patterns (``[in variant …]``,
    ``^[a-z][a-z0-9-]{0,62}$``) that rich would otherwise take for style tags and drop.
    """
    for line in str(err).splitlines() or [type(err).__name__]:
        err_console.print(
            f"[red]error:[/red] {escape(line)}", soft_wrap=True, markup=True, highlight=False
        )


def _interrupted(exit_: SystemExit) -> bool:
    """Whether this exit is typer's answer to a KeyboardInterrupt (it keeps it as context)."""
    cause: BaseException | None = exit_
    while cause is not None:
        if isinstance(cause, KeyboardInterrupt):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def flag_metavars(command: Any) -> None:
    """Blank the type column of on/off flags, ``--help`` included, in every command's help.

    typer shows ``<bool>`` beside ``--json`` or ``--warm`` as if they took a value; like
    git's or pip's help, a flag shows only its name. click makes the help option on first
    use, so that one is blanked as it is made.
    """
    for param in command.params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        flag_metavars(sub)


def main() -> None:
    """Console-script entry point with the error funnel."""
    try:
        app()
    except AersError as err:
        report_error(err)
        sys.exit(EXIT_FAILED)
    except OSError as err:  # a file the user named could not be read or written
        if err.filename is None:
            raise
        message = f"[red]error:[/red] {escape(f'{err.filename}: {err.strerror or err}')}"
        err_console.print(message, soft_wrap=True, highlight=False)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit as exit_:
        if _interrupted(exit_):  # typer turns Ctrl-C into a silent exit 130
            err_console.print("interrupted")
        raise
    except Exception:  # a bug in AERS, not the user's fault: show everything
        traceback.print_exc()
        err_console.print("[red]internal error[/red]: please report this with the traceback above")
        sys.exit(EXIT_INTERNAL)
