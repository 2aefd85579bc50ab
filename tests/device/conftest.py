"""One private JACK server (dummy backend, 48 kHz, 256 frames) per test session."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from .jack_helpers import jack_server, start_aers


@pytest.fixture(scope="session")
def jack_name() -> Iterator[str]:
    """The session's JACK server name (skips where JACK is missing)."""
    with jack_server() as server:
        yield server.name


@pytest.fixture
def aers_jack() -> Iterator[Callable[[list[str], str], subprocess.Popen[str]]]:
    """Start ``aers ARGS`` against a JACK server; whatever a failed test leaves is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], server: str) -> subprocess.Popen[str]:
        started.append(start_aers(args, server))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
