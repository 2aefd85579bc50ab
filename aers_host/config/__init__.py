"""Config loading and validation (the format: docs/config.md)."""

from ._loader import inspect_config, load_config, validate_config_data
from ._model import ConnectionSpec, GraphConfig, NodeSpec
from ._parse import MAX_CONFIG_BYTES, MAX_EXPANDED_NODES, ParsedDocument, parse_text
from ._schema import config_schema, schema_range

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_NODES",
    "ConnectionSpec",
    "GraphConfig",
    "NodeSpec",
    "ParsedDocument",
    "config_schema",
    "inspect_config",
    "load_config",
    "parse_text",
    "schema_range",
    "validate_config_data",
]
