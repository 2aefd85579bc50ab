"""``aers batch`` as a user runs it (threaded scheduler: no cluster start-up in the suite)."""

from __future__ import annotations

import contextlib
import csv
import json
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphs import SWEEP_BASE, graph

from aers_host.errors import GraphError

BASE = graph(SWEEP_BASE, block_size=256, duration=0.05)
"""``hiss`` takes the top-level seed (it sets none), so the ``seed`` axis changes the audio."""


def write(tmp_path: Path, sweep: str) -> Path:
    (tmp_path / "base.yaml").write_text(textwrap.dedent(BASE).lstrip(), encoding="utf-8")
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(sweep).lstrip(), encoding="utf-8")
    return path


SWEEP = """
    base: base.yaml
    axes:
      nodes.g.params.gain_db: [-6, 0]
      seed: "1..2"
"""


def test_batch_renders_then_skips(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    sweep, out = write(tmp_path, SWEEP), tmp_path / "out"
    result = run_cli("batch", sweep, "--out-dir", out, "--scheduler", "threads", "--workers", "2")
    assert result.code == 0, result.err
    assert "4 variants (product of 2 axes" in result.err
    assert "rendering 4 variants on threads (0 already finished)" in result.err
    assert "│    4 │       0 │      0 │     4 │" in result.out
    assert f"summary → {out.resolve() / 'summary.csv'}" in result.out
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["done"] * 4
    again = run_cli("batch", sweep, "--out-dir", out, "--scheduler", "threads", "--json")
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert report["counts"] == {"done": 0, "skipped": 4, "failed": 0, "pending": 0}
    assert {r["variant"] for r in report["rows"]} == {r["variant"] for r in rows}


def test_dry_run_lists_variants_and_renders_nothing(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "out", "--dry-run",
                     "--json")  # fmt: skip
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [(r["nodes.g.params.gain_db"], r["seed"]) for r in rows] == [
        (-6, 1), (-6, 2), (0, 1), (0, 2)
    ]  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_invalid_sweep_prints_every_problem_and_exits_1(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    sweep = write(
        tmp_path,
        """
        base: base.yaml
        axes:
          nodes.gg.params.gain_db: [-6]
          block_size: [16]
        """,
    )
    result = run_cli("batch", sweep, "--out-dir", tmp_path / "out", "--scheduler", "threads")
    assert result.code == 1
    assert result.err.splitlines() == [  # both: the missing node does not hide the rest
        f"error: {sweep}:3: axes.nodes.gg.params.gain_db: no node 'gg' in the base config "
        "(did you mean 'g'?)",
        f"error: {sweep}:4: axes.block_size: 16 is too small: must be >= 32 "
        "[in variant block_size=16]",
    ]
    assert not (tmp_path / "out").exists()


def test_failed_variant_exits_1_after_finishing_the_rest(
    tmp_path: Path,
    run_cli,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from aers_host.batch import _task

    real = _task.render

    def render(config: Any, registry: Any, **kwargs: Any) -> Any:
        # the CLI's handling of a failed row; how real failures arise is in tests/batch
        if config.data["nodes"]["g"]["params"]["gain_db"] == -6:
            raise GraphError("the graph fell over")
        return real(config, registry, **kwargs)

    monkeypatch.setattr(_task, "render", render)
    result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "out",
                     "--scheduler", "threads")  # fmt: skip
    assert result.code == 1
    assert "│    2 │       0 │      2 │     4 │" in result.out
    failed = [line for line in result.out.splitlines() if line.startswith("failed ")]
    assert len(failed) == 2
    assert all(line.endswith(": GraphError: the graph fell over") for line in failed)


def test_unknown_scheduler_is_a_user_error(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "o", "--scheduler", "x"
    )
    assert result.code == 1
    assert result.err.startswith("error: unknown scheduler 'x'")


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ("tcp://127.0.0.1:notaport", "port 'notaport' is not a number"),
        ("tcp://", "no host and no port"),
        ("tcp://127.0.0.1", "no port"),
        ("tcp://127.0.0.1:0", "port 0 is out of range 1-65535"),
        ("tcp://127.0.0.1:65536", "port 65536 is out of range 1-65535"),
        ("tcp://::1:8786", "an IPv6 host must be written in brackets"),
        ("inproc://x", "unsupported protocol 'inproc://'"),
        ("tls://127.0.0.1:18798", "tls:// addresses are not supported by aers batch"),
    ],
)
def test_malformed_scheduler_address_is_refused_before_any_work(
    tmp_path: Path, run_cli, scheduler: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    # the sweep is not even read: a missing file would be the other error
    result = run_cli("batch", tmp_path / "missing.yaml", "--out-dir", tmp_path / "o",
                     "--scheduler", scheduler)  # fmt: skip
    assert result.code == 1, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: scheduler {scheduler!r}: {message}")
    assert not (tmp_path / "o").exists()


def test_closed_port_is_one_line_at_once(tmp_path: Path, run_cli, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    address = f"tcp://127.0.0.1:{closed_port}"
    started = time.monotonic()
    result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "o",
                     "--scheduler", address)  # fmt: skip
    assert time.monotonic() - started < 5  # refused at once, not Dask's 10 s of retries
    assert result.code == 1
    assert result.err.splitlines()[-1] == (
        f"error: cannot connect to the Dask scheduler at {address}: connection refused"
    )


def test_server_answering_junk_is_not_a_scheduler(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    # an HTTP-ish answer whose first 8 bytes Dask would read as a frame length of exbibytes
    with tcp_server(b"HTTP/1.0 400 Bad request\r\n\r\n<html>no</html>" * 8) as port:
        address = f"tcp://127.0.0.1:{port}"
        result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "o",
                         "--scheduler", address)  # fmt: skip
    assert result.code == 1, result.err
    assert result.err.splitlines()[-1] == (
        f"error: cannot connect to the Dask scheduler at {address}: the server there does not "
        "speak Dask's protocol (is it a Dask scheduler?)"
    )


def test_silent_server_times_out_in_one_line(
    tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from aers_host.batch import _scheduler

    monkeypatch.setattr(_scheduler, "CONNECT_TIMEOUT_S", 0.5)
    with tcp_server(None) as port:  # accepts and never answers (like `python -m http.server`)
        address = f"tcp://127.0.0.1:{port}"
        started = time.monotonic()
        result = run_cli("batch", write(tmp_path, SWEEP), "--out-dir", tmp_path / "o",
                         "--scheduler", address)  # fmt: skip
        took = time.monotonic() - started
    assert result.code == 1, result.err
    assert took < 5
    assert result.err.splitlines()[-1] == (
        f"error: cannot connect to the Dask scheduler at {address}: no Dask handshake within "
        "0.5 s (is it a Dask scheduler?)"
    )


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.contextmanager
def tcp_server(answer: bytes | None) -> Iterator[int]:
    """A throwaway TCP server on an ephemeral port: sends ``answer`` to each connection and
    closes it, or (``None``) holds every connection open in silence."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if answer is None:
                held.append(conn)
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in held:
            conn.close()
