"""Config loading and validation (design.md §7)."""

from ._loader import load_config, validate_config_data
from ._model import ConnectionSpec, GraphConfig, NodeSpec
from ._parse import MAX_CONFIG_BYTES, MAX_EXPANDED_NODES, ParsedDocument, parse_text
from ._schema import config_schema

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_NODES",
    "ConnectionSpec",
    "GraphConfig",
    "NodeSpec",
    "ParsedDocument",
    "config_schema",
    "load_config",
    "parse_text",
    "validate_config_data",
]
