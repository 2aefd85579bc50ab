"""A node's answer to HELLO: the stream format is checked against documented bounds first.

The HELLO comes from whoever reached the port (with the token), so its fields are checked
before the chain is built or a buffer is sized, and the refusal names the field and the
range without echoing back whatever arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aers_host import default_registry
from aers_host.remote import parse_frame
from aers_host.remote._protocol import ERROR, HELLO
from aers_host.remote._session import NodeSession

STREAM = {"sample_rate": 48_000, "block_size": 64, "channels": 1, "chain": []}


@pytest.fixture
def session() -> Iterator[NodeSession]:
    node = NodeSession(default_registry(entry_points=False, store=False))
    yield node
    node.close()


def answer(session: NodeSession, **fields: Any) -> tuple[int, dict[str, Any]]:
    """The type and JSON body of the node's reply to a HELLO of ``STREAM`` with ``fields``."""
    frame = parse_frame(session.hello({**STREAM, **fields}))
    return frame.type, frame.json()


@pytest.mark.security
def test_a_huge_hello_field_is_refused_without_echoing_it_back(session: NodeSession) -> None:
    kind, body = answer(session, block_size="9" * 100_000)
    assert kind == ERROR and session.chain is None
    (problem,) = body["problems"]
    assert problem.startswith("hello.block_size must be an integer in [1, 8192], got '999")
    assert len(problem) < 120  # the range and a short excerpt, not 100 kB of the peer's text


@pytest.mark.security
@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("block_size", 0, "hello.block_size must be an integer in [1, 8192], got 0"),
        ("block_size", 64.0, "hello.block_size must be an integer in [1, 8192], got 64.0"),
        ("channels", 65, "hello.channels must be an integer in [1, 64], got 65"),
        ("channels", True, "hello.channels must be an integer in [1, 64], got True"),
        ("sample_rate", None, "hello.sample_rate must be an integer in [8000, 192000], got None"),
    ],
)
def test_each_bad_stream_field_is_named_with_its_range(
    session: NodeSession, field: str, value: object, words: str
) -> None:
    kind, body = answer(session, **{field: value})
    assert kind == ERROR and body["problems"] == [words]


@pytest.mark.security
@pytest.mark.parametrize("rate", [384_000, 192_001, 7_999])
def test_a_sample_rate_the_config_refuses_is_refused_in_hello_too(
    session: NodeSession, rate: int
) -> None:
    """The node allowed 384 kHz while configs stop at 192 kHz: one range now, the config's."""
    kind, body = answer(session, sample_rate=rate)
    assert kind == ERROR and session.chain is None
    assert body["problems"] == [
        f"hello.sample_rate must be an integer in [8000, 192000], got {rate}"
    ]


@pytest.mark.parametrize("rate", [8_000, 44_100, 192_000])
def test_every_sample_rate_a_config_accepts_is_accepted(session: NodeSession, rate: int) -> None:
    kind, body = answer(
        session, sample_rate=rate, chain=[{"type": "gain", "params": {"gain_db": -6}}]
    )
    assert kind == HELLO, body
    assert body == {"latency_samples": 0, "channels_out": 1}
    assert session.chain is not None and session.chain.channels_out == 1
