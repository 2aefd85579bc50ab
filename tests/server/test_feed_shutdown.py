"""The feed task stops when cancelled, even when a wake-up lands in the same loop step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aers_host.server import LiveRuntime
from aers_host.server._feed import FeedHub


def test_cancel_racing_a_wake_up_still_stops_the_feed(
    make_runtime: Callable[..., LiveRuntime],
) -> None:
    hub = FeedHub(make_runtime())

    async def scenario() -> bool:
        task = asyncio.create_task(hub.run(poll=60.0))
        await asyncio.sleep(0)  # the task is now waiting for a wake-up
        hub._wake.set()  # the audio thread's notify, in the same step as the stop
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=30.0)  # fails by hanging, not by timing
        return task in done and task.cancelled()

    assert asyncio.run(scenario())
