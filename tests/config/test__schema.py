"""The packaged config schema is valid JSON Schema 2020-12.

``config_schema()`` no longer checks this on every command (it is a property of the shipped
file), so this test is what would catch a broken edit of ``schema.json``.
"""

from __future__ import annotations

import jsonschema

from aers_host.config import config_schema


def test_the_packaged_config_schema_is_valid_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(config_schema())

