"""Drain output chunks on a helper thread while the block loop renders the next ones.

A render's outputs reach their files and meters a chunk (about 1.4 s of audio) at a
time: the file write (libsndfile) and the loudness/true-peak measurement (numba) of a
120 s stereo render cost about a third of the whole render when the block loop waited
for them. Both release the GIL, so on a second core they overlap the next chunks'
rendering (docs/architecture.md, "Time, buffers and latency").

Invariants:

* **Order.** Chunks are delivered in the order they were taken, by one thread: a file
  and a meter see exactly the sequence the block loop produced, so files and metrics are
  bit-identical to draining in place.
* **Bounded.** At most :data:`QUEUED_CHUNKS` chunks wait; the block loop waits for room
  rather than growing memory.
* **Nothing lost.** :meth:`ChunkDrain.finish` waits until every chunk was delivered;
  the render calls it before it closes its files, after an error or Ctrl-C too.
* **Errors cross back.** A delivery that raised (a full disk) stops further deliveries;
  the next :meth:`ChunkDrain.submit` or :meth:`ChunkDrain.finish` on the render's thread
  re-raises it.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Final

from .._threads import helper_thread

#: Chunks taken but not yet delivered, at most (each is one sink's chunk copy).
QUEUED_CHUNKS: Final = 2

Delivery = Callable[[], None]


class ChunkDrain:
    """One helper thread delivering chunks in order (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Delivery | None] = queue.Queue(QUEUED_CHUNKS)
        #: The first delivery's error; set once, after which nothing more is delivered.
        self._error: BaseException | None = None
        self._reported = False
        self._thread = helper_thread(self._serve, "aers-drain")
        self._thread.start()

    def _serve(self) -> None:
        """[drain-thread] Deliver until the stop marker; after an error, only consume."""
        while True:
            delivery = self._queue.get()
            try:
                if delivery is None:
                    return
                if self._error is None:
                    delivery()
            except BaseException as err:  # re-raised on the render's thread
                self._error = err
            finally:
                self._queue.task_done()

    def submit(self, delivery: Delivery) -> None:
        """[main-thread, between blocks] Queue ``delivery`` (waits while the queue is full).

        Raises:
            BaseException: what an earlier delivery raised.
        """
        self._raise()
        self._queue.put(delivery)

    def finish(self) -> None:
        """[main-thread] Wait for every queued delivery, stop the thread (idempotent).

        Raises:
            BaseException: what a delivery raised.
        """
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        """Re-raise a delivery's error, once (a later call in a ``finally`` stays quiet)."""
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error
