"""``aers serve``: refused bindings, and a real server that starts, serves and stops."""

from __future__ import annotations

import signal
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from graphs import SINE, graph

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from server.live_server import Exited, aers_serve

from aers_host.cli._serve import check_binding, is_loopback

CONFIG = graph(SINE, version=1)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("host", "loop"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_public_bind_without_token_is_refused(run_cli: Callable[..., object], config: Path) -> None:
    result = run_cli("serve", config, "--host", "0.0.0.0")
    assert result.code == 1  # type: ignore[attr-defined]
    lines = result.err.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--token" in lines[0]


def test_malformed_token_is_refused(run_cli: Callable[..., object], config: Path) -> None:
    result = run_cli("serve", config, "--token", "short")
    assert result.code == 1 and "error:" in result.err  # type: ignore[attr-defined]


def test_missing_config_is_one_error_line(run_cli: Callable[..., object], tmp_path: Path) -> None:
    result = run_cli("serve", tmp_path / "nope.yaml")
    assert result.code == 1 and result.err.startswith("error:")  # type: ignore[attr-defined]


def test_check_binding_accepts_public_bind_with_token() -> None:
    check_binding("0.0.0.0", "a-long-enough-token-123")


def test_serve_starts_serves_and_stops(config: Path) -> None:
    with aers_serve(config) as url:
        graph = httpx.get(f"{url}/api/graph", timeout=5).json()
        assert [n["id"] for n in graph["nodes"]] == ["tone", "main"]
        assert httpx.get(f"{url}/", timeout=5).status_code == 200


def test_sigterm_stops_cleanly_records_and_withdraws_its_announcement(
    config: Path, tmp_path: Path, aers_home: Path
) -> None:
    # uvicorn alone re-raises SIGTERM after its shutdown, killing the process before the
    # CLI's own cleanup: --record was never written and serve.json stayed behind.
    exited = Exited()
    record = tmp_path / "rec"
    with aers_serve(config, "--record", str(record), stop=(signal.SIGTERM,), exited=exited):
        assert (aers_home / "serve.json").exists()
        time.sleep(0.3)
    assert exited.code == 130, exited.err
    assert "stopped by SIGTERM" in exited.err and "interrupted" in exited.err
    assert not (aers_home / "serve.json").exists()
    assert sf.info(str(record / "main.wav")).frames > 0


def test_a_second_ctrl_c_still_exits_cleanly(config: Path) -> None:
    exited = Exited()
    with aers_serve(config, stop=(signal.SIGINT, signal.SIGINT), exited=exited):
        pass
    assert exited.code == 130, exited.err
    assert "Traceback" not in exited.err and "interrupted" in exited.err


def test_a_taken_port_is_one_error_line_before_any_announcement(
    run_cli: Callable[..., object], config: Path
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", config, "--port", str(port))
    assert result.code == 1  # type: ignore[attr-defined]
    err = result.err  # type: ignore[attr-defined]
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "pick another --port" in err and "live at" not in err
