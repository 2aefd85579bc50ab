"""The event loop the remote link and node run on: uvloop when installed, else asyncio's.

Measured on loopback with 512 × 2 float32 blocks (``benchmarks/bench_remote.py``), most of a
WebSocket round trip is event-loop overhead on the two ends, not the network: uvloop's
libuv-based loop cuts the per-message cost of the selector loop. The wire protocol is the
same either way, so a client on one loop talks to a node on the other; uvloop is part of
the ``remote`` extra and optional (Windows has none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The fastest event-loop constructor available (``uvloop.new_event_loop`` if installed)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop
