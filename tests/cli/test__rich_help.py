"""typer's help renderer imported without markdown-it, Pygments and rich.traceback.

Runs in a fresh interpreter: the test process has long imported typer's renderer for real.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
from aers_host.cli._rich_help import import_rich_utils
import_rich_utils()
import typer.rich_utils as ru
heavy = [m for m in ("rich.markdown", "rich.traceback", "markdown_it", "pygments") if m in sys.modules]
assert heavy == [], heavy
import rich.markdown, rich.traceback  # the real modules now: no stand-in left behind
assert isinstance(rich.markdown.Markdown, type) and rich.markdown.Markdown.__module__ == "rich.markdown"
made = ru.Markdown("*x*")  # the stand-in builds the real thing if typer ever calls it
assert type(made) is rich.markdown.Markdown
try:
    raise ValueError("boom")
except ValueError as exc:
    tb = ru.Traceback.from_exception(type(exc), exc, exc.__traceback__)
assert type(tb) is rich.traceback.Traceback
print("ok")
"""


def test_help_renderer_imports_lean_and_its_stand_ins_resolve_to_the_real_classes() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
