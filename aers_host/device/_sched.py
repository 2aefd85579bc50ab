"""Real-time scheduling for the engine thread that feeds the JACK callback.

On a busy machine an ordinary (``SCHED_OTHER``) thread may wait many milliseconds for a
core, while JACK's process thread, which runs ``SCHED_FIFO``, keeps asking for audio on
time: the ring runs dry (measured on a 2-core machine at load 7: 597 underruns in a 2 s
run at 256 frames). Audio applications therefore run the thread that renders for the
device ``SCHED_FIFO`` too, below JACK's own priority. Where the user may not (no
``rtprio`` limit; see docs/live-audio.md) the thread keeps its policy and the run reports
``engine_realtime: false``.

``SCHED_RESET_ON_FORK`` is set with it, so threads and processes started from the engine
thread (sandbox workers, say) do not inherit real-time priority.
"""

from __future__ import annotations

import os
from typing import Final

#: ``SCHED_FIFO`` priority of the engine thread: above every normal thread, below JACK's
#: process thread (jackd's default is 10; its clients' threads run just under it).
ENGINE_PRIORITY: Final = 5


class RealtimeThread:
    """[engine-thread] Switch the calling thread to ``SCHED_FIFO`` and back."""

    def __init__(self, priority: int = ENGINE_PRIORITY) -> None:
        """Nothing changes until :meth:`enter`."""
        self.priority = priority
        #: Whether the thread runs real-time now.
        self.active = False
        self._saved: tuple[int, os.sched_param] | None = None

    def enter(self) -> bool:
        """[engine-thread] Become real-time if the system allows it; return whether it did."""
        try:
            saved = (os.sched_getscheduler(0), os.sched_getparam(0))
            policy = os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
            os.sched_setscheduler(0, policy, os.sched_param(self.priority))
        except (OSError, AttributeError):  # no permission (rtprio limit), or not Linux
            return False
        self._saved, self.active = saved, True
        return True

    def leave(self) -> None:
        """[engine-thread] Restore the policy :meth:`enter` replaced."""
        if self._saved is not None:
            policy, param = self._saved
            os.sched_setscheduler(0, policy, param)
            self._saved, self.active = None, False
