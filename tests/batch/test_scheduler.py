"""``--scheduler`` values: checked up front, addresses normalised (reaching them: tests/cli)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sweep_fakes import WriteSweep

from aers_host.batch import load_sweep, parse_scheduler, run_sweep
from aers_host.errors import AersError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local", "local"),
        (" threads ", "threads"),
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("TCP://scheduler.example.org:1", "tcp://scheduler.example.org:1"),
        ("tcp://[::1]:65535", "tcp://[::1]:65535"),
    ],
)
def test_accepted_values_are_normalised(text: str, expected: str) -> None:
    assert parse_scheduler(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", "unknown scheduler 'x'"),
        ("tcp://", "no host and no port"),
        ("tcp://:8786", "no host"),
        ("tcp://host", "no port"),
        ("tcp://host:", "no port"),
        ("tcp://host:notaport", "port 'notaport' is not a number"),
        ("tcp://host:-1", "port '-1' is not a number"),
        ("tcp://host:٣", "port '٣' is not a number"),
        ("tcp://host:99999", "port 99999 is out of range 1-65535"),
        ("tcp://host:8786/path", "port '8786/path' is not a number"),
        ("tcp://[::1", "unclosed '['"),
        ("tcp://[nope]:1", "'nope' is not an IPv6 address"),
        ("tcp://::1:8786", "an IPv6 host must be written in brackets"),
        ("tcp://a b:1", "'a b' is not a host name or address"),
        ("inproc://x", "unsupported protocol 'inproc://'"),
        ("ucx://host:1", "unsupported protocol 'ucx://'"),
        ("tls://127.0.0.1:8786", "tls:// addresses are not supported"),
    ],
)
def test_malformed_values_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(AersError) as info:
        parse_scheduler(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_run_sweep_gives_up_on_a_silent_address_after_connect_timeout(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    # a listening socket nobody accepts from: the kernel completes the TCP handshake, then
    # nothing is ever said (Dask's own handshake read would wait forever)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(AersError) as info:
            run_sweep(load_sweep(write_sweep()), tmp_path / "out", scheduler=address,
                      connect_timeout=0.3)  # fmt: skip
    assert time.monotonic() - started < 3
    assert str(info.value) == (
        f"cannot connect to the Dask scheduler at {address}: no Dask handshake within 0.3 s "
        "(is it a Dask scheduler?)"
    )
