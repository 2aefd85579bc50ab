"""The dashboard: its page at ``/`` and its assets under ``/static`` (package data).

The page is served with ``cache-control: no-store`` so a reloaded server's page is never
stale; neither route is in ``/openapi.json`` (they are not API).

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

#: The dashboard's files (``index.html``, ``app.js``, ``style.css``), shipped in the wheel.
STATIC_DIR = Path(str(files("aers_host.server") / "static"))

router = APIRouter()
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-store"})
