"""The repository documents itself (issue 21, item 6): README links every page under docs/,
and nothing cites a design note that is not in the repository."""

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
    for folder in ("aers_host", "tests", "docs", "benchmarks", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".md", ".json", ".sh", ".toml", ".yaml", ".html"}:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(ROOT)}: {n}" for n in OUTSIDE if n in text]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found += [f"README.md: {n}" for n in OUTSIDE if n in readme]
    assert found == []
