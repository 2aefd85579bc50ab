"""Debian's Chromium driven by Playwright: the fixtures every browser test uses.

Uses Debian's ``/usr/bin/chromium`` (``scripts/test.sh`` installs it; never ``playwright
install``), launched with background networking disabled and a fresh profile.
Pages fail their test on any JavaScript error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; scripts/test.sh installs it as root, the suite itself never does."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"no {CHROMIUM}: install Debian's chromium (apt-get install chromium, as root; "
            "scripts/test.sh does it) to run the browser tests"
        )
    return CHROMIUM


@pytest.fixture
def page(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium page (new profile), failing the test on any JS error."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            tab = context.new_page()
            tab.on("pageerror", lambda err: errors.append(str(err)))
            yield tab
        finally:
            context.close()
    assert not errors, f"JavaScript errors: {errors}"
