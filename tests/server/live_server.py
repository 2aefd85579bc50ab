"""Start ``aers serve`` as a real subprocess on a free port (CLI and browser tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

AERS = Path(sys.executable).with_name("aers")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Exited:
    """How a served process ended (filled in when its context exits)."""

    code: int | None = None
    err: str = ""


@contextmanager
def aers_serve(
    config: Path,
    *extra: str,
    port: int | None = None,
    timeout: float = 60.0,
    stop: tuple[int, ...] = (signal.SIGINT,),
    exited: Exited | None = None,
) -> Iterator[str]:
    """Run ``aers serve CONFIG --port P``; yield its base URL; stop it with ``stop``'s signals."""
    port = port or free_port()
    proc = subprocess.Popen(
        [str(AERS), "serve", str(config), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"aers serve exited {proc.returncode}: {proc.stderr.read()}")
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1.0).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "aers serve did not come up"
            time.sleep(0.1)
        yield url
    finally:
        for sig in stop:
            proc.send_signal(sig)
            time.sleep(0.05)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # a stop signal must stop it: never pass quietly
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(
                f"aers serve outlived its stop signal by 15 s: {err[-2000:]}"
            ) from None
        if exited is not None:
            exited.code, exited.err = proc.returncode, err
