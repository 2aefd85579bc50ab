"""``aers serve --session NAME``: the live graph and its edit journal saved as a session.

After every applied edit (or plugin reload) the session gets a new version holding the
current config (``LiveGraph.config.data``: exactly what an offline render needs), the
journal (an extra ``journal`` field: the session format keeps fields it does not know,
docs/sessions.md) and the engine's full state — position, every processor's state,
compensation lines and flags — taken by the audio thread at a block boundary once the
edit's fade is over (:meth:`LiveRuntime.capture_state`), so a crash after an edit loses
no state. Should no boundary come within :data:`STATE_WAIT_S` (the edit keeps fading),
that version holds the position only. On shutdown, with the audio thread stopped, the
final version holds the full state too.

``aers session export NAME --yaml FILE`` then writes that config; its ``config:`` part is a
plain config file that ``aers render`` plays offline.

Example:
    >>> saver = Autosaver(runtime, "jam")     # doctest: +SKIP
    >>> saver.save()                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._nodetype import NodeType
from ..errors import SessionError

if TYPE_CHECKING:
    from ._runtime import LiveRuntime

#: Seconds an autosave waits for the audio thread to hand over the engine's state.
STATE_WAIT_S = 2.0


class Autosaver:
    """Saves a running graph into the session store under one name."""

    def __init__(
        self,
        runtime: LiveRuntime,
        name: str,
        registry: Mapping[str, NodeType] | None = None,
        db: Path | None = None,
    ) -> None:
        """[main-thread] Check the name and the store now (a bad one fails before serving).

        Raises:
            SessionError: the name is not a valid session name, or the store is another
                application's file, damaged or newer than this AERS (left untouched).
        """
        from ..session import SessionStore, check_name

        self.runtime = runtime
        self.name = check_name(name)
        self.registry = registry
        self.db = db
        SessionStore(db).inspect()
        self.saved = 0
        #: Why the latest save failed (None after a successful one).
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def try_save(self, *, final: bool = False) -> str | None:
        """[any-thread but audio] :meth:`save`, reporting a failure instead of raising it.

        The edit an autosave follows is already live: a store that cannot be written (disk
        full, the file replaced while serving) must not turn its acknowledgement into an
        error. The problem is printed as one line on stderr and returned (None: saved).
        """
        try:
            self.save(final=final)
        except SessionError as err:
            self.last_error = f"session {self.name!r} not saved: {err}"
            print(f"warning: {self.last_error}", file=sys.stderr, flush=True)
            return self.last_error
        self.last_error = None
        return None

    def save(self, *, final: bool = False) -> int:
        """[any-thread but audio] Store a new version with the engine's full state.

        The state comes from the audio thread between blocks (or directly once it has
        stopped); the position alone while an edit is still fading in (the running plan
        is not the config then). ``final`` marks the shutdown version in its note.

        Returns:
            The version number stored.

        Raises:
            SessionError: the store cannot be written.
        """
        from ..session import SessionStore, session_from_state

        live = self.runtime.live
        with self._lock:
            captured = self.runtime.capture_state(STATE_WAIT_S)
            config, journal = live.config, [dict(e) for e in live.journal]
            state: dict[str, Any] = (
                captured if captured is not None else {"position": live.engine.position}
            )
            registry = self.registry if self.registry is not None else live.registry
            session = session_from_state(self.name, config, state, registry)
            session = dataclasses.replace(session, extra={**session.extra, "journal": journal})
            note = f"live: {len(journal)} edits" + (" (final)" if final else "")
            with SessionStore(self.db) as store:
                version = store.save(session, note=note)
            self.saved += 1
            return version
