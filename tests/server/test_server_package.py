"""The public surface of ``aers_host.server`` and the assets the wheel must carry."""

from __future__ import annotations

from importlib.resources import files

import aers_host.server as server


def test_every_name_in_all_imports() -> None:
    for name in server.__all__:
        assert getattr(server, name) is not None


def test_dashboard_assets_are_package_data() -> None:
    static = files("aers_host.server") / "static"
    for name in ("index.html", "app.js", "style.css"):
        assert (static / name).is_file(), name
    page = (static / "index.html").read_text(encoding="utf-8")
    assert "/static/app.js" in page and "/static/style.css" in page
