"""Whether a render knows how long to run: the one rule ``render`` and ``validate`` share.

A render lasts the ``duration`` (config or ``--duration``); without one, every source must
end by itself and the longest sets the length. ``aers render`` applies the rule to the
prepared processors (:func:`aers_host.graph.render_length`), ``aers validate`` to the
config's node types before anything is built (``NodeType.ends``); both phrase the refusal
with :func:`endless_reason`, so the two cannot disagree on what they name.

Example:
    >>> endless_reason([SourceEnd("bed", "file", ends=False, looping=True)])
    "source 'bed' (file, loop: true) never ends"
    >>> endless_reason([SourceEnd("dlg", "file", ends=True)]) is None
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: How to give a render its length, said wherever it has none.
DURATION_HINT: Final = "set `duration:` in the config or pass --duration SECONDS"


@dataclass(frozen=True, slots=True)
class SourceEnd:
    """One source node and whether it ends by itself."""

    node_id: str
    type_name: str
    ends: bool
    #: A looping file: named as such, since that is why it never ends.
    looping: bool = False

    def label(self) -> str:
        """The source as the refusal names it: ``'bed' (file, loop: true)``."""
        return f"{self.node_id!r} ({self.type_name}{', loop: true' if self.looping else ''})"


def endless_reason(sources: Sequence[SourceEnd]) -> str | None:
    """[any-thread] Why these sources cannot set a render length, or None when they can.

    Args:
        sources: every source node of the graph.
    """
    endless = [s.label() for s in sources if not s.ends]
    if sources and not endless:
        return None
    if len(endless) == 1:
        return f"source {endless[0]} never ends"
    if endless:
        return f"sources {', '.join(endless)} never end"
    return "the graph has no source whose length could set it"
