"""Load a config file: read (size-capped), parse (bomb-proof), validate (every problem)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._nodetype import NodeType
from ..errors import ConfigError
from ._model import GraphConfig
from ._parse import ParsedDocument, _too_deep, parse_text, read_config_text
from ._validate import Inspection, inspect_document


def load_config(
    path: str | Path,
    *,
    registry: Mapping[str, NodeType],
    overrides: Mapping[str, Any] | None = None,
    require_length: bool = False,
) -> GraphConfig:
    """Load and validate a YAML or JSON config.

    Args:
        path: the config file; relative paths inside it resolve against its folder.
        registry: node types to accept (``aers_host.default_registry()``: built-ins,
            entry points and the store; ``aers_host.load_config`` passes it by default).
        overrides: top-level keys that replace the file's (CLI ``--block-size``,
            ``--duration``), validated like the rest.
        require_length: also refuse what a render would: no ``duration`` while some
            source never ends (``aers render``; ``aers run`` needs no length).

    Raises:
        ConfigError: every problem, each as ``FILE:LINE: path: message (hint)``.
    """
    return inspect_config(
        path, registry=registry, overrides=overrides, require_length=require_length
    ).config_or_raise()


def inspect_config(
    path: str | Path,
    *,
    registry: Mapping[str, NodeType],
    overrides: Mapping[str, Any] | None = None,
    require_length: bool = False,
) -> Inspection:
    """:func:`load_config` that returns the problems with the partly read config.

    What ``aers validate`` uses, so checks that need a config (the scene's events) run
    even when the graph has problems.

    Raises:
        ConfigError: the file cannot be read or parsed (nothing else can be checked).
    """
    file = Path(path)
    doc = parse_text(read_config_text(file), str(file))
    return _inspect(doc, registry, overrides, file.parent, require_length)


def validate_config_data(
    doc: ParsedDocument,
    *,
    registry: Mapping[str, NodeType],
    overrides: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
) -> GraphConfig:
    """Validate an already parsed document (from a file, a session or Python code).

    Raises:
        ConfigError: every problem found.
    """
    return _inspect(doc, registry, overrides, base_dir or Path.cwd(), False).config_or_raise()


def _inspect(
    doc: ParsedDocument,
    registry: Mapping[str, NodeType],
    overrides: Mapping[str, Any] | None,
    base_dir: Path,
    require_length: bool,
) -> Inspection:
    if overrides and isinstance(doc.data, dict):
        doc = ParsedDocument({**doc.data, **overrides}, doc.file, doc.lines)
    try:
        return inspect_document(doc, registry, base_dir, require_length=require_length)
    except RecursionError as err:  # a document built in Python may nest without limit
        raise ConfigError([_too_deep(doc.file)]) from err
