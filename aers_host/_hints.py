"""The one "did you mean" hint every unknown name gets: config keys, node types, events, CLI verbs.

A leaf module (it imports nothing of the project), so the config loader, the event
parser, the graph API and the CLI all phrase a near miss the same way.

Example:
    >>> did_you_mean("revreb", ["reverb", "delay"])
    "did you mean 'reverb'?"
    >>> did_you_mean("xyz", ["reverb"])
    ''
    >>> did_you_mean("rendr", ["render", "renders", "run"], n=2)
    "did you mean 'render' or 'renders'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[object], *, n: int = 1) -> str:
    """``did you mean 'x'?`` for the closest choices, or "" when none is close.

    Args:
        word: the name that was not found.
        choices: the names that exist (numbers and other values are compared as text).
        n: how many close names to offer at most, best first.

    Returns:
        The hint, without a trailing space or leading capital, or "" when nothing is close
        (difflib's default similarity cutoff of 0.6).
    """
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=n)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
