"""The ``aers`` console script: answers ``aers --version`` before loading the CLI.

Every other invocation goes to :func:`aers_host.cli._app.main` (typer, rich and the error
funnel, ~0.1 s to import). ``aers --version`` alone needs none of it, so it is answered
here; with other arguments (``aers -V validate x.yaml``) typer's eager option answers the
same line.

Example:
    >>> version_line()[:5]
    'aers '
"""

from __future__ import annotations

import sys

#: The arguments answered without loading the CLI.
_VERSION_ONLY = (["--version"], ["-V"])


def version_line() -> str:
    """What ``aers --version`` prints."""
    from .. import __version__

    return f"aers {__version__}\n"


def main() -> None:
    """Console-script entry point: ``--version`` at once, anything else through the CLI."""
    if sys.argv[1:] in _VERSION_ONLY:
        sys.stdout.write(version_line())
        return
    from ._app import main as run_cli

    run_cli()
