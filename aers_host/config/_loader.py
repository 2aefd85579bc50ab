"""Load a config file: read (size-capped), parse (bomb-proof), validate (every problem)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._nodetype import NodeType
from ..errors import ConfigError
from ._model import GraphConfig
from ._parse import ParsedDocument, _too_deep, parse_text, read_config_text
from ._validate import validate_document


def load_config(
    path: str | Path,
    *,
    registry: Mapping[str, NodeType] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> GraphConfig:
    """Load and validate a YAML or JSON config.

    Args:
        path: the config file; relative paths inside it resolve against its folder.
        registry: node types to accept (default: built-ins, entry points and the store).
        overrides: top-level keys that replace the file's (CLI ``--block-size``,
            ``--duration``), validated like the rest.

    Raises:
        ConfigError: every problem, each as ``FILE:LINE: path: message (hint)``.
    """
    file = Path(path)
    doc = parse_text(read_config_text(file), str(file))
    return validate_config_data(doc, registry=registry, overrides=overrides, base_dir=file.parent)


def validate_config_data(
    doc: ParsedDocument,
    *,
    registry: Mapping[str, NodeType] | None = None,
    overrides: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> GraphConfig:
    """Validate an already parsed document (from a file, a session or Python code).

    Raises:
        ConfigError: every problem found.
    """
    if registry is None:
        from ..plugins import default_registry

        registry = default_registry()
    if overrides and isinstance(doc.data, dict):
        doc = ParsedDocument({**doc.data, **overrides}, doc.file, doc.lines)
    try:
        return validate_document(doc, registry, base_dir or Path.cwd())
    except RecursionError as err:  # a document built in Python may nest without limit
        raise ConfigError([_too_deep(doc.file)]) from err
