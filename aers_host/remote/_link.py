"""The client's network side: one background thread running an asyncio loop and a WebSocket.

The audio thread and this thread share only preallocated arrays (:class:`Rings`) and
a few integers; nothing is locked, and no system call is made, per block on the audio side.

Invariants:

* **Seqlock slots.** The audio thread writes a block into slot ``seq % R`` with the slot's
  tag set to -1, then sets the tag to ``seq``. The sender copies the message and sends it
  only if the tag was ``seq`` before and after the copy, so it never sends a torn block.
* **Results are placed by sequence number.** A RESULT lands in slot ``seq % R`` only while
  the audio thread still wants it (``seq >= needed``); late arrivals are counted, not used.
* **No wake-up syscalls on the audio thread.** The sender polls the queue every ``poll``
  seconds; only an audio thread that is about to block anyway calls :meth:`Link.kick`.
* **Reconnect with exponential backoff** (``backoff_min`` doubling to ``backoff_max``).
  Each connection is an *epoch*; blocks queued in an earlier epoch are dropped, never sent
  late, so the audio thread stops waiting for them at once.
* A refused token or an invalid chain is *fatal*: retrying cannot fix it.
"""

from __future__ import annotations

import asyncio
import collections
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .._threads import helper_thread
from ._loop import loop_factory
from ._protocol import (
    ERROR,
    HELLO,
    MAX_MESSAGE,
    RESULT,
    STATE,
    ProtocolError,
    encode_json,
    parse_frame,
)

#: Round trips kept for the RTT statistics (a ring of the latest ones).
RTT_HISTORY = 4096


@dataclass(slots=True)
class Rings:
    """Preallocated block slots shared by the audio thread and the link thread."""

    slots: int
    in_msgs: list[bytearray]
    in_len: npt.NDArray[np.int64]
    in_seq: npt.NDArray[np.int64]
    in_epoch: npt.NDArray[np.int64]
    res_audio: npt.NDArray[np.float32]
    res_seq: npt.NDArray[np.int64]
    res_start: npt.NDArray[np.int64]
    res_frames: npt.NDArray[np.int64]
    sent_ns: npt.NDArray[np.int64]
    rtt_us: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(RTT_HISTORY))
    rtt_count: int = 0

    @classmethod
    def allocate(cls, slots: int, channels: int, channels_out: int, block: int) -> Rings:
        """Slots for ``block`` frames of ``channels`` in and ``channels_out`` out."""
        from ._protocol import HEADER_SIZE

        return cls(
            slots,
            [bytearray(HEADER_SIZE + channels * block * 4) for _ in range(slots)],
            np.zeros(slots, np.int64),
            np.full(slots, -1, np.int64),
            np.full(slots, -1, np.int64),
            np.zeros((slots, channels_out, block), np.float32),
            np.full(slots, -1, np.int64),
            np.zeros(slots, np.int64),
            np.zeros(slots, np.int64),
            np.zeros(slots, np.int64),
        )


class LinkFailed(Exception):
    """The node refused us for a reason retrying cannot fix (token, chain)."""


class Link:
    """The WebSocket connection to one remote node, kept alive on a background thread.

    Args:
        url: ``ws://host:port/...`` of the node.
        token: the node's shared secret (sent as ``Authorization: Bearer``).
        hello: the HELLO payload (stream format and chain).
        rings: the shared slots.
        backoff: (first, longest) reconnect delay in seconds.
        open_timeout: seconds for the handshake and the HELLO reply.
        poll: seconds between the sender's looks at the pending queue.
    """

    def __init__(
        self,
        url: str,
        token: str,
        hello: dict[str, Any],
        rings: Rings,
        *,
        backoff: tuple[float, float] = (0.05, 2.0),
        open_timeout: float = 5.0,
        poll: float = 0.002,
    ) -> None:
        self.url, self._token, self._hello, self.rings = url, token, hello, rings
        self._backoff, self._open_timeout = backoff, open_timeout
        self._pending: collections.deque[int] = collections.deque()
        self._loop = loop_factory()()
        self._poll = poll
        self._nap_future: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = helper_thread(self._run, "aers-remote-link")
        #: Set when the first connection succeeded or failed (see :attr:`fatal`).
        self.first_result = threading.Event()
        #: Set by the receiver whenever a result lands (the audio thread waits on it).
        self.arrived = threading.Event()
        #: Why the node refused us, for good (None while there is hope).
        self.fatal: str | None = None
        #: Last connection error, for messages.
        self.last_error = ""
        #: The node's HELLO reply of the first connection.
        self.info: dict[str, Any] = {}
        self.connected = False
        #: Increments on each successful connection.
        self.epoch = 0
        self.reconnects = 0
        #: Lowest sequence number the audio thread still wants.
        self.needed = 0
        self.late_arrivals = 0
        self.malformed = 0
        self._ws: ClientConnection | None = None
        self._state_reply: dict[str, Any] | None = None
        self._state_arrived = threading.Event()

    # -- audio-thread side -------------------------------------------------------------

    def submit(self, seq: int) -> None:
        """[audio-thread] Queue slot ``seq`` for the sender's next round (no syscall, no lock).

        The sender polls every ``poll`` seconds instead of being woken: waking another
        thread costs the audio thread a GIL hand-off (~150 µs measured on a loaded 2-core
        box), while the poll adds at most ``poll`` to a round trip that ``latency_blocks``
        hides anyway. An audio thread that must wait calls :meth:`kick` first.
        """
        self._pending.append(seq)

    def kick(self) -> None:
        """[any-thread] Make the sender send what is pending now (before blocking on a result)."""
        if self._thread.is_alive():
            self._call_soon(self._wake_sender)

    def _wake_sender(self) -> None:
        nap = self._nap_future
        if nap is not None and not nap.done():
            nap.set_result(None)

    def request_state(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """[main-thread & !processing] Send a STATE message and wait for the node's answer.

        The node answers after every block sent before it, so the answer describes the
        chain after the last block this client sent.

        Raises:
            ConnectionError: not connected, or no answer within ``timeout`` seconds.
        """
        ws = self._ws
        if ws is None or not self.connected:
            raise ConnectionError(f"the node at {self.url} is not connected")
        self._state_reply = None
        self._state_arrived.clear()
        message = encode_json(STATE, body)
        try:
            asyncio.run_coroutine_threadsafe(ws.send(message), self._loop).result(timeout)
        except (RuntimeError, TimeoutError, ConnectionClosed, OSError) as err:
            raise ConnectionError(f"cannot reach the node at {self.url}: {err}") from err
        self._state_arrived.wait(timeout)
        reply = self._taken_state_reply()
        if reply is None:
            raise ConnectionError(f"the node at {self.url} did not answer a state request")
        return reply

    def _taken_state_reply(self) -> dict[str, Any] | None:
        reply, self._state_reply = self._state_reply, None
        return reply

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """[main-thread] Start the thread; it connects and keeps reconnecting until closed."""
        self._thread.start()

    def close(self) -> None:
        """[main-thread] Stop the thread and close the connection (waits up to 2 s)."""
        if self._thread.is_alive():
            if self._task is not None:
                self._call_soon(self._task.cancel)
            self._thread.join(timeout=2.0)

    def _call_soon(self, callback: Callable[[], object]) -> None:
        """[any-thread] Run ``callback`` on the link thread, if its loop still runs.

        The link thread closes its loop on the way out (after a fatal refusal, say), so a
        caller that saw the thread alive can still find the loop closed a moment later.
        A closed loop means the thread is finishing: there is nothing left to wake or cancel.
        """
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:
            if not self._loop.is_closed():
                raise

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._main())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self.connected = False
            self.first_result.set()
            self._loop.close()

    # -- link-thread side --------------------------------------------------------------

    async def _main(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    compression=None,
                    max_size=MAX_MESSAGE,
                    open_timeout=self._open_timeout,
                    ping_interval=None,
                    close_timeout=1.0,
                ) as ws:
                    await self._greet(ws)
                    delay = self._backoff[0]
                    await self._pump(ws)
            except LinkFailed as err:
                self.fatal = str(err)
                self.first_result.set()
                return
            except InvalidStatus as err:
                status = err.response.status_code
                if status in (401, 403):
                    self.fatal = f"the node at {self.url} refused the token (HTTP {status})"
                    self.first_result.set()
                    return
                self.last_error = f"HTTP {status}"
            except InvalidURI as err:
                self.fatal = f"invalid node URL {self.url!r}: {err}"
                self.first_result.set()
                return
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as err:
                self.last_error = str(err) or type(err).__name__
            except ProtocolError as err:
                self.malformed += 1
                self.last_error = f"malformed reply: {err}"
            finally:
                self.connected = False
                self.arrived.set()  # an audio thread waiting on this link stops waiting
            self.first_result.set()
            await asyncio.sleep(delay * (0.75 + random.random() / 2))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2.0, self._backoff[1])

    async def _greet(self, ws: ClientConnection) -> None:
        await ws.send(encode_json(HELLO, self._hello))
        reply = parse_frame(await asyncio.wait_for(ws.recv(), self._open_timeout))
        if reply.type == ERROR:
            body = reply.json()
            problems = "; ".join(str(p) for p in body.get("problems", [])) or "no details"
            raise LinkFailed(f"the node at {self.url} refused the chain: {problems}")
        if reply.type != HELLO:
            raise ProtocolError("the node did not answer HELLO")
        info = reply.json()
        if self.info and info != self.info:
            raise LinkFailed(
                f"the node at {self.url} came back with another chain ({info} ≠ {self.info})"
            )
        self.info = info
        self._pending.clear()  # blocks queued while we were away are stale now
        self.epoch += 1
        if self.epoch > 1:
            self.reconnects += 1
        self.connected = True
        self.first_result.set()

    async def _pump(self, ws: ClientConnection) -> None:
        tasks = [asyncio.create_task(self._send_loop(ws)), asyncio.create_task(self._recv(ws))]
        self._ws = ws
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raise what ended the connection

    async def _send_loop(self, ws: ClientConnection) -> None:
        rings, pending = self.rings, self._pending
        while True:
            while pending:
                seq = pending.popleft()
                i = seq % rings.slots
                if rings.in_seq[i] != seq:
                    continue  # overwritten: too old to matter
                data = bytes(memoryview(rings.in_msgs[i])[: rings.in_len[i]])
                if rings.in_seq[i] != seq:
                    continue  # torn while copying
                rings.sent_ns[i] = perf_counter_ns()
                await ws.send(data)
            nap: asyncio.Future[None] = self._loop.create_future()
            timer = self._loop.call_later(self._poll, _finish, nap)
            self._nap_future = nap
            try:
                await nap
            finally:
                timer.cancel()
                self._nap_future = None

    async def _recv(self, ws: ClientConnection) -> None:
        rings = self.rings
        channels_out = rings.res_audio.shape[1]
        async for message in ws:
            frame = parse_frame(message)
            if frame.type == STATE:
                self._state_reply = frame.json()
                self._state_arrived.set()
                continue
            if frame.type != RESULT or frame.channels != channels_out:
                raise ProtocolError(f"expected RESULT of {channels_out} channels")
            seq, i = frame.seq, frame.seq % rings.slots
            if rings.in_seq[i] != seq or frame.frames > rings.res_audio.shape[2]:
                self.late_arrivals += 1
                continue
            rings.rtt_us[rings.rtt_count % RTT_HISTORY] = (
                perf_counter_ns() - rings.sent_ns[i]
            ) / 1e3
            rings.rtt_count += 1
            if seq < self.needed:
                self.late_arrivals += 1
                continue
            rings.res_audio[i, :, : frame.frames] = frame.audio()
            rings.res_start[i] = frame.start
            rings.res_frames[i] = frame.frames
            rings.res_seq[i] = seq
            self.arrived.set()


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
