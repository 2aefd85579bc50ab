"""The link thread's lifecycle seen from the threads that talk to it."""

from __future__ import annotations

import pytest
from signal_masks import TERMINAL, thread_blocks

from aers_host.remote._link import Link
from aers_host.remote._linkbase import Rings
from aers_host.remote._tcp_link import TcpLink


@pytest.fixture
def finished_link() -> Link:
    """A link refused for good: its thread has run, closed its loop and ended."""
    link = Link("http://not-a-websocket", "token-0123456789", {}, Rings.allocate(2, 1, 1, 64))
    link.start()
    link._thread.join(10)
    assert link.fatal is not None and "invalid node URL" in link.fatal
    assert link._loop.is_closed()
    return link


def test_a_finished_tcp_link_says_why_and_closes_quietly() -> None:
    link = TcpLink("tcp://no-port", "token-0123456789", {}, Rings.allocate(2, 1, 1, 64))
    link.start()
    link._thread.join(10)
    assert (
        link.fatal == "invalid node URL: 'tcp://no-port' names no host and port (tcp://HOST:PORT)"
    )
    link.kick()  # its wake-up pair is closed: nothing to wake, no error
    link.close()
    link.close()
    assert not link.connected and link.first_result.is_set()


def test_close_and_kick_tolerate_a_loop_closed_after_the_alive_check(
    finished_link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window CI hit: the caller sees the thread alive, the thread closes its loop.
    monkeypatch.setattr(finished_link._thread, "is_alive", lambda: True)
    finished_link.kick()
    finished_link.close()


def test_close_of_a_finished_link_is_quiet_and_repeatable(finished_link: Link) -> None:
    finished_link.close()
    finished_link.close()
    assert not finished_link.connected


@pytest.mark.parametrize("link_type", [Link, TcpLink], ids=["websocket", "tcp"])
def test_the_link_thread_leaves_terminal_signals_to_the_main_thread(link_type: type) -> None:
    # Nothing listens on port 1: the thread stays alive, retrying with backoff.
    scheme = "ws" if link_type is Link else "tcp"
    link = link_type(f"{scheme}://127.0.0.1:1", "token-0123456789", {}, Rings.allocate(2, 1, 1, 64))
    link.start()
    try:
        assert link.first_result.wait(10) and link.fatal is None
        assert thread_blocks(link._thread.native_id) >= TERMINAL
    finally:
        link.close()
