"""Helper threads that leave Ctrl-C and ``kill`` to the main thread.

CPython runs Python signal handlers on the main thread only. The kernel may deliver a
process-wide signal (SIGINT from Ctrl-C, SIGTERM from ``kill``) to *any* thread that does
not block it. Delivered to a helper thread, CPython just sets a flag, and a main thread
blocked in ``sleep()``, ``join()`` or an idle ``select()`` does not look at that flag until
it next runs Python code, so Ctrl-C seems ignored. CI hit this: a host slept on for 10 s
after SIGINT because the sandbox supervisor thread had taken it.

Every thread AERS starts therefore blocks these signals; threads *they* start inherit the
mask, so the kernel delivers the signals to the main thread. Threads that other libraries
start from the main thread (numpy's BLAS pool, say) are not ours to mask: long main-thread
waits that must stay interruptible go through an event loop's wakeup fd instead (see
:meth:`aers_host.remote.NodeServer.serve_forever`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Final

#: The signals a user sends to stop a program.
TERMINAL_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def leave_signals_to_main_thread() -> None:
    """[helper-thread] Block :data:`TERMINAL_SIGNALS` in the calling thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)


def helper_thread(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread (not started) that runs ``target`` with the terminal signals blocked."""

    def run() -> None:
        leave_signals_to_main_thread()
        target()

    return threading.Thread(target=run, name=name, daemon=True)
