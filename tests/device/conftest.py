"""One private JACK server (dummy backend, 48 kHz, 256 frames) per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .jack_helpers import jack_server


@pytest.fixture(scope="session")
def jack_name() -> Iterator[str]:
    """The session's JACK server name (skips where JACK is missing)."""
    with jack_server() as server:
        yield server.name
