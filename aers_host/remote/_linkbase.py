"""What every transport's link shares: the slots, the counters and the message rules.

A link keeps one connection to a remote node alive on a background thread. The audio thread
and that thread share only preallocated arrays (:class:`Rings`) and a few integers; nothing
is locked, and no system call is made, per block on the audio side. The transports differ
only in how bytes move (``_link``: WebSocket on an event loop; ``_tcp_link``: a blocking
socket); what a message means is decided here, once.

Invariants:

* **Seqlock slots.** The audio thread writes a block into slot ``seq % R`` with the slot's
  tag set to -1, then sets the tag to ``seq``. The sender copies the message and sends it
  only if the tag was ``seq`` before and after the copy, so it never sends a torn block.
* **Results are placed by sequence number.** A RESULT lands in slot ``seq % R`` only while
  the audio thread still wants it (``seq >= needed``); late arrivals are counted, not used.
* **No wake-up syscalls on the audio thread.** The sender polls the queue every ``poll``
  seconds; only an audio thread that is about to block anyway makes system calls, in
  :meth:`LinkBase.wait_result` (on TCP it then sends its block and receives the result
  itself, with no thread hop).
* **Reconnect with exponential backoff** (``backoff_min`` doubling to ``backoff_max``).
  Each connection is an *epoch*; blocks queued in an earlier epoch are dropped, never sent
  late, so the audio thread stops waiting for them at once.
* A refused token or an invalid chain is *fatal*: retrying cannot fix it.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns
from typing import Any

import numpy as np
import numpy.typing as npt

from .._threads import helper_thread
from ._protocol import ERROR, HEADER_SIZE, HELLO, RESULT, STATE, Frame, ProtocolError, encode_json

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


class LinkBase:
    """State and message handling common to every transport's link.

    Subclasses set up their transport in :meth:`_setup`, run the connection in
    :meth:`_run` (on the link thread) and implement :meth:`close`, :meth:`kick` and
    :meth:`_send_control`.

    Args:
        url: the node's address (``ws://``, ``wss://`` or ``tcp://``).
        token: the node's shared secret.
        hello: the HELLO payload (stream format and chain).
        rings: the shared slots.
        backoff: (first, longest) reconnect delay in seconds.
        open_timeout: seconds for the connection, its handshake and the HELLO reply.
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
        self._backoff, self._open_timeout, self._poll = backoff, open_timeout, poll
        self._pending: collections.deque[int] = collections.deque()
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
        self._state_reply: dict[str, Any] | None = None
        self._state_arrived = threading.Event()
        self._setup()
        self._thread = helper_thread(self._run, "aers-remote-link")

    def _setup(self) -> None:
        """[main-thread] The transport's own state (called by ``__init__``, before the thread)."""

    def _run(self) -> None:
        """[link-thread] Connect and reconnect until closed or refused for good."""
        raise NotImplementedError

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
        raise NotImplementedError

    def wait_result(self, slot: int, seq: int, epoch: int, until: float) -> None:
        """[audio-thread] Block until result ``seq`` is in ``slot``, or give up.

        Gives up when ``perf_counter()`` reaches ``until`` or the connection of ``epoch``
        ends (its blocks will never be answered). This waits on :attr:`arrived`, which the
        link thread sets; a transport may do better (TCP receives on the waiting thread).
        """
        rings = self.rings
        self.kick()  # we are going to block anyway: do not let the sender's poll add to it
        while True:
            self.arrived.clear()
            if rings.res_seq[slot] == seq or not self.connected or self.epoch != epoch:
                return
            remaining = until - perf_counter()
            if remaining <= 0:
                return
            self.arrived.wait(remaining)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """[main-thread] Start the thread; it connects and keeps reconnecting until closed."""
        self._thread.start()

    def close(self) -> None:
        """[main-thread] Stop the thread and close the connection (waits up to 2 s)."""
        raise NotImplementedError

    # -- sessions ----------------------------------------------------------------------

    def request_state(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        """[main-thread & !processing] Send a STATE message and wait for the node's answer.

        The node answers after every block sent before it, so the answer describes the
        chain after the last block this client sent.

        Raises:
            ConnectionError: not connected, or no answer within ``timeout`` seconds.
        """
        if not self.connected:
            raise ConnectionError(f"the node at {self.url} is not connected")
        self._state_reply = None
        self._state_arrived.clear()
        self._send_control(encode_json(STATE, body), timeout)
        self._state_arrived.wait(timeout)
        reply = self._taken_state_reply()
        if reply is None:
            raise ConnectionError(f"the node at {self.url} did not answer a state request")
        return reply

    def _taken_state_reply(self) -> dict[str, Any] | None:
        reply, self._state_reply = self._state_reply, None
        return reply

    def _send_control(self, message: bytes, timeout: float) -> None:
        """[main-thread] Have the link thread send ``message`` after the blocks before it.

        Raises:
            ConnectionError: the message could not be handed over within ``timeout``.
        """
        raise NotImplementedError

    # -- link-thread side --------------------------------------------------------------

    def _accept_hello(self, reply: Frame) -> None:
        """[link-thread] Accept the node's answer to our HELLO: the connection is now live.

        Raises:
            LinkFailed: the node refused the token or the chain, or came back with another
                chain than before (retrying cannot fix any of these).
            ConnectionRefusedError: the node serves as many clients as it may (retry).
            ProtocolError: the answer is neither HELLO nor ERROR.
        """
        if reply.type == ERROR:
            body = reply.json()
            if body.get("status") == 503:  # the node is full now: worth trying again later
                raise ConnectionRefusedError(
                    f"the node at {self.url} is busy: {body.get('error', 'no details')}"
                )
            if body.get("status") in (401, 403):  # the TCP transport's token refusal
                raise LinkFailed(
                    f"the node at {self.url} refused the token ({body.get('error', '')})"
                )
            problems = "; ".join(str(p) for p in body.get("problems", [])) or str(
                body.get("error", "no details")
            )
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

    def _pending_message(self, seq: int) -> memoryview | None:
        """[link-thread] Slot ``seq``'s message, or None when it was overwritten already.

        The view is into the audio thread's slot: copy it, then call :meth:`_still_wanted`
        before sending the copy (the seqlock).
        """
        rings = self.rings
        i = seq % rings.slots
        if rings.in_seq[i] != seq:
            return None  # overwritten: too old to matter
        return memoryview(rings.in_msgs[i])[: rings.in_len[i]]

    def _still_wanted(self, seq: int) -> bool:
        """[link-thread] True when slot ``seq`` was not rewritten during the copy; stamps it."""
        rings = self.rings
        i = seq % rings.slots
        if rings.in_seq[i] != seq:
            return False  # torn while copying
        rings.sent_ns[i] = perf_counter_ns()
        return True

    def _on_frame(self, frame: Frame) -> None:
        """[link-thread] Place a RESULT in its slot, or hand a STATE answer to its waiter.

        Raises:
            ProtocolError: anything else, or a RESULT of another channel count.
        """
        if frame.type == STATE:
            self._state_reply = frame.json()
            self._state_arrived.set()
            return
        if frame.type == ERROR:
            raise ProtocolError(f"the node closed the connection: {frame.json().get('error')}")
        rings = self.rings
        channels_out = rings.res_audio.shape[1]
        if frame.type != RESULT or frame.channels != channels_out:
            raise ProtocolError(f"expected RESULT of {channels_out} channels")
        seq, i = frame.seq, frame.seq % rings.slots
        if rings.in_seq[i] != seq or frame.frames > rings.res_audio.shape[2]:
            self.late_arrivals += 1
            return
        rings.rtt_us[rings.rtt_count % RTT_HISTORY] = (perf_counter_ns() - rings.sent_ns[i]) / 1e3
        rings.rtt_count += 1
        if seq < self.needed:
            self.late_arrivals += 1
            return
        rings.res_audio[i, :, : frame.frames] = frame.audio()
        rings.res_start[i] = frame.start
        rings.res_frames[i] = frame.frames
        rings.res_seq[i] = seq
        self.arrived.set()
