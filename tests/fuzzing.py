"""Shared settings and strategies of the fuzz tests (hypothesis, schemathesis).

Every fuzzer runs derandomized (the same examples on every run, so CI is reproducible and
a failure replays), with no per-example deadline (a busy machine is not a bug) and a small
``max_examples`` so all of them together stay within about a minute. Set
``AERS_FUZZ_EXAMPLES`` to run more (for example 2000 for a long local hunt, with
``derandomize`` still on: raise ``AERS_FUZZ_SEED`` to see other inputs).

Each fuzzer asserts the same three things of whatever it feeds in: the input is accepted
or refused with an ``AersError`` (what the CLI prints as one line and exits 1 for) —
never another exception (a traceback, exit 3); and the work done stays under an allocation
bound (:func:`allocation_peak`).
"""

from __future__ import annotations

import contextlib
import os
import tracemalloc
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per fuzzer (per operation for the API fuzzer).
EXAMPLES = int(os.environ.get("AERS_FUZZ_EXAMPLES", "60"))


def fuzz_settings(examples: int = EXAMPLES) -> settings:
    """Reproducible, deadline-free settings with ``examples`` examples."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


#: Any JSON value (NaN and infinities included: a hand-written file may hold them).
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
#: Numbers that probe limits: huge, negative, fractional, non-finite, of the wrong type.
_EDGES: list[Any] = [0, 1, -1, 2**31, 2**63, 10**13, -(10**13), 0.5, 1e308, -1e308,
                     float("nan"), float("inf"), True, "48000", None]  # fmt: skip
EDGE_NUMBERS: st.SearchStrategy[Any] = st.sampled_from(_EDGES) | st.integers() | st.floats()


@contextlib.contextmanager
def allocation_peak(limit: int) -> Iterator[None]:
    """Fail if the block's Python/NumPy allocations ever total more than ``limit`` bytes.

    NumPy reports its buffers to :mod:`tracemalloc`, so a value that sizes an array (a
    latency, a frame count) shows up here before it could exhaust the machine.
    """
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit, f"allocated {peak} bytes at peak (bound {limit})"
