"""The repository documents itself (issues 21 and 16): README links every page under docs/,
nothing cites a design note that is not in the repository, and CONTRIBUTING.md's map and
recipes name files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Team notes that live outside the repository (spelled in parts so this file passes too).
OUTSIDE = tuple(name + ".md" for name in ("design", "style"))


def test_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", readme))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


def test_nothing_cites_notes_outside_the_repository() -> None:
    found = []
    suffixes = {".py", ".md", ".json", ".sh", ".toml", ".yaml", ".html", ".js", ".h", ".cpp"}
    folders = ("aers_host", "tests", "docs", "benchmarks", "scripts", "plugins", "examples")
    paths = [p for folder in folders for p in (ROOT / folder).rglob("*") if p.suffix in suffixes]
    paths += [p for p in ROOT.glob("*") if p.suffix in {".md", ".toml"}]  # README, CONTRIBUTING
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(ROOT)}: {n}" for n in OUTSIDE if n in text]
    assert found == []


def test_contributing_names_files_that_exist() -> None:
    """Every repository path CONTRIBUTING.md names in backticks exists."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    roots = "aers_host|tests|docs|benchmarks|scripts|plugins"
    named = set(re.findall(rf"`((?:{roots})/[\w./-]*)`", text))
    assert named, "CONTRIBUTING.md names no files"
    generated = ("benchmarks/results",)  # written by the benchmarks, never committed
    missing = sorted(p for p in named if not p.startswith(generated) and not (ROOT / p).exists())
    assert missing == []


def test_contributing_maps_every_subpackage() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = {p.parent.name for p in (ROOT / "aers_host").glob("*/__init__.py")}
    assert {p for p in packages if not re.search(rf"^  {p}/", layout, re.M)} == set()
