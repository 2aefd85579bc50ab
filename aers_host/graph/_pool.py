"""A few worker threads that run lanes of a level while the calling thread runs its own.

The engine's audio thread hands each worker one job per parallel level and waits for
all of them before the next level (docs/architecture.md, "Two cores").

Invariants:

* **Made before the first block.** Threads, locks and job slots exist from
  :class:`LanePool` on; :meth:`LanePool.start` and :meth:`LanePool.wait` only store a
  reference, release and acquire locks: no allocation, no Python object created.
* **No lock held while DSP runs.** Each worker has two plain locks used as binary
  semaphores: ``go`` (the audio thread releases it to start the job) and ``done`` (the
  worker releases it when the job returned). A blocked ``acquire`` releases the GIL, so
  a waiting thread costs nothing; the numba kernels release the GIL too, so lanes run
  at the same time. One hand-off per parallel level and block: the per-node GIL
  hand-offs between the lanes cost far more (docs/architecture.md, "Two cores"), so a
  spinning barrier, which would hold a core the other lane needs, was not pursued.
* **Errors cross back.** An exception raised by a job is kept and re-raised by
  :meth:`LanePool.wait` on the audio thread, after every worker has finished its job, so
  no worker still touches a buffer when the caller handles it.
* **Workers are the engine's.** They block Ctrl-C and ``kill`` (left to the main
  thread, see ``aers_host._threads``) and flush denormals to zero for their whole life,
  as the audio thread does during a block. :meth:`LanePool.close` (or garbage
  collection of the pool) stops and joins them.

Example:
    >>> pool = LanePool(1)
    >>> seen = []
    >>> pool.start([lambda: seen.append("worker")])
    >>> seen.append("caller")
    >>> pool.wait(1)
    >>> sorted(seen)
    ['caller', 'worker']
    >>> pool.close()
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Sequence

from .._denormals import FlushDenormals
from .._threads import helper_thread

Job = Callable[[], None]

#: Seconds :meth:`LanePool.close` waits for each worker to finish.
JOIN_TIMEOUT_S = 5.0


class _Slots:
    """What the workers share with the pool: job slots, locks, errors.

    Not the pool itself, so an unreferenced pool can be collected and its finalizer
    stop the threads.
    """

    def __init__(self, workers: int) -> None:
        self.jobs: list[Job | None] = [None] * workers
        self.errors: list[BaseException | None] = [None] * workers
        self.go = [threading.Lock() for _ in range(workers)]
        self.done = [threading.Lock() for _ in range(workers)]
        for lock in (*self.go, *self.done):
            lock.acquire()
        self.closed = False
        self.threads: list[threading.Thread] = []

    def serve(self, k: int, flush: FlushDenormals) -> None:
        """[worker-thread] Run job ``k`` each time ``go[k]`` opens, until closed."""
        flush.enter()  # this thread only runs DSP: denormals stay flushed for its life
        go, done, jobs, errors = self.go[k], self.done[k], self.jobs, self.errors
        while True:
            go.acquire()
            if self.closed:
                return
            job = jobs[k]
            try:
                if job is not None:
                    job()
            except BaseException as err:  # re-raised on the audio thread by wait()
                errors[k] = err
            done.release()

    def shut(self) -> None:
        """[main-thread] Wake every worker to exit, then join them."""
        if self.closed:
            return
        self.closed = True
        for lock in self.go:
            lock.release()
        current = threading.current_thread()
        for thread in self.threads:
            if thread is not current:
                thread.join(JOIN_TIMEOUT_S)


class LanePool:
    """``workers`` threads, each running the job it is handed (see the module docstring)."""

    def __init__(self, workers: int) -> None:
        """[main-thread & !active] Start the workers; they wait for their first job.

        Raises:
            ValueError: ``workers`` is not positive.
        """
        if workers < 1:
            raise ValueError(f"a lane pool needs at least one worker, got {workers}")
        self._slots = slots = _Slots(workers)
        flush = FlushDenormals()
        for k in range(workers):
            thread = helper_thread(functools.partial(slots.serve, k, flush), f"aers-lane-{k + 1}")
            slots.threads.append(thread)
            thread.start()
        self._finalizer = weakref.finalize(self, slots.shut)

    @property
    def workers(self) -> int:
        """Number of worker threads (the calling thread runs one more lane)."""
        return len(self._slots.jobs)

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The worker threads (for tests and diagnostics)."""
        return tuple(self._slots.threads)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._slots.closed

    def start(self, jobs: Sequence[Job]) -> None:
        """[audio-thread & processing] Hand ``jobs[k]`` to worker ``k`` and wake it."""
        slots = self._slots
        for k, job in enumerate(jobs):
            slots.jobs[k] = job
            slots.go[k].release()

    def wait(self, count: int) -> None:
        """[audio-thread & processing] Wait for workers ``0 … count-1``; re-raise an error.

        Raises:
            BaseException: the first exception a job raised (after all ``count`` finished).
        """
        slots = self._slots
        for k in range(count):
            slots.done[k].acquire()
            slots.jobs[k] = None  # the pool keeps no reference to the engine between blocks
        for k in range(count):
            err = slots.errors[k]
            if err is not None:
                slots.errors[k] = None
                raise err

    def close(self) -> None:
        """[main-thread & !processing] Stop and join the workers (idempotent)."""
        self._finalizer()
