"""The JSON Schema of ``metrics.json``, shipped in the package (``metrics.schema.json``).

Readers validate against it; AERS's own tests validate real renders against it. It lists
every field AERS writes, with a description, and leaves objects open (a field it does not
list is allowed), so adding a field never breaks a reader: describe the new field in the
schema and in docs/metrics.md.

Example:
    >>> schema = metrics_schema()
    >>> schema["properties"]["realtime_factor"]["description"]
    'Audio seconds per wall second (null when no time passed).'
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def metrics_schema() -> dict[str, Any]:
    """[any-thread] The parsed ``metrics.schema.json`` (JSON Schema 2020-12), read once."""
    text = resources.files("aers_host.metrics").joinpath("metrics.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
