"""Documented limits on values that enter the host from outside, and their one check each.

A plugin class, a worker reply, a native descriptor or a remote node's hello can each
declare a latency; the planner sizes a compensation delay line by it. An unchecked value
of ``10**13`` asks for terabytes and ends the host with an internal error, so every such
value is checked here, where it enters, before anything is allocated from it. The check
raises :class:`~aers_host.errors.LimitError`, whose one line names the node, the field and
the limit. ``docs/plugins.md`` lists each limit and who may change it (only a host
release: no config key or plugin can raise them).

Example:
    >>> max_latency_samples(48000)
    480000
    >>> check_latency(64, 48000, "fx")
    64
    >>> try:
    ...     check_latency(-1, 48000, "fx")
    ... except LimitError as err:
    ...     print(err)
    node 'fx': latency_samples = -1 is out of range; the limit is 0…480000 (10 s at 48000 Hz)
"""

from __future__ import annotations

from numbers import Integral
from typing import Final

from .errors import LimitError

#: Longest latency one node may report, in seconds of audio at the graph's sample rate.
MAX_LATENCY_SECONDS: Final = 10
#: Longest latency of any path through a graph (the sum along it), in seconds: this bounds
#: every compensation delay line the planner allocates.
MAX_PATH_LATENCY_SECONDS: Final = 60
#: Most threads one engine runs branches on (``threads:``, ``--threads``): the pool is
#: sized by it, so a config cannot ask for thousands of threads.
MAX_THREADS: Final = 64


def max_latency_samples(sample_rate: int, seconds: int = MAX_LATENCY_SECONDS) -> int:
    """``seconds`` of samples at ``sample_rate``: the largest latency a node may report."""
    return int(seconds) * int(sample_rate)


def check_latency(
    value: object,
    sample_rate: int,
    node: str,
    field: str = "latency_samples",
    seconds: int = MAX_LATENCY_SECONDS,
) -> int:
    """``value`` as an int latency, if it is a whole number in ``0…seconds × sample_rate``.

    ``bool`` and floats are refused as well as out-of-range integers: a latency is a whole
    sample count, and ``True`` or ``64.5`` is a bug in whoever sent it, not a latency.

    Raises:
        LimitError: not an integer, negative, or over the limit.
    """
    top = max_latency_samples(sample_rate, seconds)
    return check_whole(value, 0, top, node, field, f"0…{top} ({seconds} s at {sample_rate} Hz)")


def check_whole(value: object, low: int, high: int, node: str, field: str, limit: str = "") -> int:
    """``value`` as an int, if it is a whole number (not a bool) in ``low…high``.

    Raises:
        LimitError: not an integer, or outside the range (``limit`` words it, default
            ``low…high``).
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= int(value) <= high:
        raise LimitError(node, field, value, limit or f"{low}…{high}")
    return int(value)
