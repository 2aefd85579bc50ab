"""Fan-out of the live runtime to WebSocket clients: bounded queues, one broadcaster.

Invariants (why a slow client can never slow the engine):

* The audio thread only swaps a snapshot reference and appends to deques; it wakes the
  broadcaster with ``loop.call_soon_threadsafe`` and never waits for it.
* The broadcaster serialises each frame once and hands the same text to every client's
  :class:`ClientQueue`. ``put`` never blocks: past :attr:`ClientQueue.max_frames`
  pending frames the oldest frame is dropped and counted (the count travels in every
  frame as ``dropped``). Graph, ack, edited, event and error messages are not dropped
  unless a client falls :attr:`ClientQueue.max_total` messages behind.
* After a live edit has faded in, every client gets ``edited`` then a fresh ``graph``.
* Each client has its own sender task; a stalled socket stalls only that task.

The engine and the web server share one interpreter; :func:`gil_switch_interval` is the
GIL switch interval that keeps the web thread from preempting the audio thread mid-block.

Example:
    >>> q = ClientQueue(max_frames=1)
    >>> q.put("{}", frame=True); q.put("{}", frame=True); q.dropped
    1
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import TYPE_CHECKING

from ._edits import edited_message
from ._messages import (
    ack_message,
    dumps,
    event_message,
    frame_body,
    frame_text,
    graph_message,
    param_values,
    params_message,
)

if TYPE_CHECKING:
    from ._runtime import LiveRuntime


def gil_switch_interval(block_size: int, sample_rate: int) -> float:
    """The interpreter switch interval a live server should use, in seconds.

    Python's default (5 ms) keeps the web thread from forcing the GIL away from the audio
    thread in the middle of a block (measured: a 0.5 ms interval raised the engine's p99
    block time by ~13-30 % with 50 clients; 5 ms by ~1 %). It is capped at half a block
    period so the audio thread, waking for its next block, never waits longer than that.
    """
    return min(0.005, block_size / sample_rate / 2)


class ClientQueue:
    """Pending messages of one client; frames beyond ``max_frames`` drop oldest-first."""

    def __init__(self, max_frames: int = 8, max_total: int = 256) -> None:
        """[event-loop] An empty queue."""
        self.max_frames = max_frames
        self.max_total = max_total
        #: Messages dropped so far (frames, and anything past ``max_total``).
        self.dropped = 0
        self._items: collections.deque[tuple[bool, str]] = collections.deque()
        self._frames = 0
        self._ready = asyncio.Event()

    def put(self, text: str, *, frame: bool) -> None:
        """[event-loop] Queue ``text`` without ever waiting."""
        if frame and self._frames >= self.max_frames:
            for i, (is_frame, _) in enumerate(self._items):
                if is_frame:
                    del self._items[i]
                    self._frames -= 1
                    self.dropped += 1
                    break
        if len(self._items) >= self.max_total:
            is_frame, _ = self._items.popleft()
            self._frames -= is_frame
            self.dropped += 1
        self._items.append((frame, text))
        self._frames += frame
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> str:
        """[event-loop] The next message; a frame gets this client's drop count spliced in."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        is_frame, text = self._items.popleft()
        if is_frame:
            self._frames -= 1
            return frame_text(text, self.dropped)
        return text


class FeedHub:
    """The set of connected clients and the task that feeds them from the runtime."""

    def __init__(self, runtime: LiveRuntime, *, max_frames: int = 8, rate: float = 30.0) -> None:
        """[event-loop] Nothing runs until :meth:`run` is started as a task."""
        self.runtime = runtime
        self.max_frames = max_frames
        #: Feed rate announced in ``graph`` messages.
        self.rate = rate
        self.clients: set[ClientQueue] = set()
        self._wake = asyncio.Event()
        self._last_seq = 0
        #: Parameter values last sent (or described by the last ``graph``), by node id.
        self._values: dict[str, dict[str, float]] = {}

    def add(self) -> ClientQueue:
        """[event-loop] Register a new client queue."""
        client = ClientQueue(self.max_frames)
        self.clients.add(client)
        return client

    def remove(self, client: ClientQueue) -> None:
        """[event-loop] Forget a client (idempotent)."""
        self.clients.discard(client)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """[event-loop] Let the audio thread wake :meth:`run` (non-blocking, lock-free wait)."""

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._wake.set)

        self.runtime.notify = notify

    async def run(self, poll: float = 0.25) -> None:
        """[event-loop] Until cancelled: on each wake, fan out the new snapshot, acks and notices.

        The wait is ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 a
        ``wait_for`` whose inner wait completes in the same loop step as the task's
        cancellation returns normally and swallows the cancel. With the audio thread
        waking this task every block, shutdown then hung forever on ``await task``.
        """
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()
            self._wake.clear()
            self.pump()

    def pump(self) -> None:
        """[event-loop] One fan-out pass (also called directly by tests)."""
        runtime = self.runtime
        for ack in runtime.drain_acks():
            origin = ack.control.origin
            if isinstance(origin, ClientQueue):
                origin.put(dumps(ack_message(ack)), frame=False)
            elif isinstance(origin, asyncio.Future) and not origin.done():
                origin.set_result(ack)
        for notice in runtime.drain_notices():
            text = dumps(event_message(notice))
            for client in self.clients:
                client.put(text, frame=False)
        edited = runtime.drain_edited()
        if edited:  # the graph changed: tell every client, then describe the new one
            texts = [dumps(edited_message(entry)) for entry in edited]
            texts.append(dumps(graph_message(runtime, self.rate)))
            for client in self.clients:
                for text in texts:
                    client.put(text, frame=False)
        snap = runtime.snapshot
        if snap is None or snap.seq == self._last_seq:
            return
        self._last_seq = snap.seq
        if not self.clients:
            return
        self._send_changed_values(bool(edited))
        body = frame_body(runtime, snap)
        for client in self.clients:
            client.put(body, frame=True)

    def _send_changed_values(self, new_graph: bool) -> None:
        """[event-loop] Send a ``params`` message with the nodes whose values changed.

        Once per frame: a control from another client, automation or a change made while
        a node was replaced shows on every page within a frame. A new ``graph`` carries
        every value, so after one only later changes are sent. Not a frame: never dropped.
        """
        values = param_values(self.runtime)
        changed = {} if new_graph else {
            node: current for node, current in values.items()
            if current and self._values.get(node) != current
        }  # fmt: skip
        self._values = values
        if changed:
            text = dumps(params_message(changed))
            for client in self.clients:
                client.put(text, frame=False)
