"""uvicorn's server, stopped by SIGINT or SIGTERM without being killed by them.

uvicorn shuts down gracefully on either signal, then raises the signal again under the
handler that was installed before it ran. For SIGTERM that handler is the default action,
which kills the process on the spot: ``aers serve`` never got to close the runtime, write
``--record`` or withdraw its discovery file. Here the signal is only recorded
(:attr:`StoppableServer.stopped_by`), and the caller decides how to end.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn

#: What stops the server: Ctrl-C and ``kill``.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StoppableServer(uvicorn.Server):
    """A :class:`uvicorn.Server` whose stop signals end :meth:`run` normally.

    A first signal starts the graceful shutdown; a second Ctrl-C skips waiting for open
    connections and the app's shutdown (uvicorn's ``force_exit``): no autosave then.
    """

    #: The first signal that stopped the server (None while none did).
    stopped_by: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install :meth:`handle_exit` for :data:`STOP_SIGNALS`; restore, never re-raise."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled on the main thread
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Record the first stop signal; a repeated Ctrl-C forces the exit."""
        if self.stopped_by is None:
            self.stopped_by = sig
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
            # Forcing cancels the app's lifespan task, which uvicorn then logs as an error
            # with a traceback: expected here, and only noise to the user who asked for it.
            logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self.should_exit = True
