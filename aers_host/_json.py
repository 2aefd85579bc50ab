"""Strict JSON out: every file and answer AERS writes parses in any JSON reader.

Python's ``json`` writes ``NaN``/``Infinity`` by default, which JSON does not have
(JavaScript's ``JSON.parse`` and ``jq`` reject or mangle them). AERS values go non-finite
in ordinary cases — the level of silence is ``-inf`` dBFS, a render shorter than 3 s has
no short-term loudness — so they are written as ``null``.

Example:
    >>> dumps({"peak_dbfs": float("-inf"), "blocks": 3})
    '{"peak_dbfs": null, "blocks": 3}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """Replace non-finite floats with None (JSON has no Infinity) and arrays with lists."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` of :func:`to_jsonable` (``allow_nan=False``: nothing non-finite left)."""
    return json.dumps(to_jsonable(value), indent=indent, allow_nan=False)
