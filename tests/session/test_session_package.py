"""The session package's public surface."""

from __future__ import annotations

import aers_host.session as session_pkg


def test_every_public_name_imports() -> None:
    for name in session_pkg.__all__:
        assert getattr(session_pkg, name) is not None
