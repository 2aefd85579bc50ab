"""Sweep files: load, check, expand into variants, validate every variant, name each one.

A sweep file (docs/batch.md) is ``{base: CONFIG_PATH, axes: {DOTTED.PATH: VALUES}, mode:
product|zip}``. Loading it is all-or-nothing and happens before anything is submitted:

1. the sweep file is parsed with the config parser (size cap, alias bomb, duplicate keys)
   and checked against :data:`SWEEP_SCHEMA` with the config's schema machinery;
2. ``base`` resolves against the sweep file's folder and is parsed the same way;
3. every axis's values and dotted path are checked (:mod:`._axes`); ``zip`` needs equal
   lengths; the variant count is capped at :data:`MAX_VARIANTS`;
4. the variants are expanded (``product``: cartesian, first axis slowest; ``zip``: the
   i-th value of every axis) and each is validated as a full config; every problem of
   every variant is reported, duplicates collapsed, located at the axis that caused it
   when one did. Broken axes (step 3) do not stop this: the valid axes are expanded
   without them, so one run lists the problems of both (unless ``zip`` lengths differ or
   the count is over the cap: then there is no sweep to expand);
5. an axis whose values all resolve to the same graph (:mod:`._idle`: seeds derived,
   events routed) is refused, so no two variants render the same audio under two ids.

A variant's id is the first 12 hex digits of the SHA-256 of the canonical JSON of its
resolved config data and the base config's folder (relative paths resolve there), so the
same variant has the same id on every run and machine layout, and any change renames it.

Example:
    >>> sweep = load_sweep("sweep.yaml")  # doctest: +SKIP
    >>> [(v.id, dict(v.values)) for v in sweep.variants][:1]  # doctest: +SKIP
    [('3f1c0a9b2e4d', {'seed': 1})]
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._nodetype import NodeType
from ..config import ParsedDocument, parse_text, validate_config_data
from ..config._parse import read_config_text
from ..config._schema import join_path, schema_problems
from ..errors import ConfigError, Problem
from ._axes import AxisError, axis_values, check_path, is_plain_data, set_path
from ._idle import idle_axes

#: Most variants one sweep may expand to (each is validated before anything runs).
MAX_VARIANTS: Final = 100_000
#: Length of a variant id in hex digits (48 bits: collisions need ~16 million variants).
ID_HEX_DIGITS: Final = 12

SWEEP_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["base", "axes"],
    "properties": {
        "base": {"type": "string", "minLength": 1},
        "mode": {"enum": ["product", "zip"]},
        "axes": {"type": "object", "minProperties": 1},
        "allow_fallback": {"type": "boolean"},
    },
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One point of the sweep: its axis values and the full config they produce."""

    #: Stable id: :func:`variant_id` of ``data`` and the base folder.
    id: str
    #: Position in the expansion (0-based), for ordering rows.
    index: int
    #: Axis path → value, in axis order.
    values: Mapping[str, Any]
    #: The variant's config data (the base with every axis value written in).
    data: Mapping[str, Any]

    def label(self) -> str:
        """``seed=1, nodes.g.params.gain_db=-6`` for messages."""
        return ", ".join(f"{path}={json.dumps(value)}" for path, value in self.values.items())


@dataclass(frozen=True, slots=True)
class Sweep:
    """A loaded, fully validated sweep."""

    #: The sweep file.
    file: Path
    #: The base config file, resolved (absolute).
    base: Path
    #: ``product`` or ``zip``.
    mode: str
    #: Axis path → values, in file order.
    axes: Mapping[str, tuple[Any, ...]]
    #: Distinct variants in expansion order.
    variants: tuple[Variant, ...]
    #: How many expanded points repeated an earlier variant (same id) and were dropped.
    duplicates: int = 0
    #: A variant in which a node played fallback audio counts as ``done`` (else ``failed``).
    allow_fallback: bool = False


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same bytes for the same data."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def variant_id(data: Mapping[str, Any], base_dir: Path) -> str:
    """Stable id of a variant: its config data plus the folder its paths resolve in."""
    text = canonical_json({"base_dir": str(base_dir), "config": data})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HEX_DIGITS]


def load_sweep(path: str | Path, *, registry: Mapping[str, NodeType] | None = None) -> Sweep:
    """Load, check, expand and validate a sweep file.

    Args:
        path: the sweep file (YAML or JSON).
        registry: node types to validate variants with (default: :func:`default_registry`).

    Raises:
        ConfigError: every problem found in the sweep, the base config or any variant.
    """
    if registry is None:
        from .._builtins import default_registry

        registry = default_registry()
    file = Path(path)
    doc = parse_text(read_config_text(file), str(file))
    problems = _sweep_problems(doc)
    if problems:
        raise ConfigError(problems)
    base_file = (file.parent / doc.data["base"]).resolve()
    try:
        base_doc = parse_text(read_config_text(base_file), str(base_file))
    except ConfigError as err:
        raise ConfigError(
            [_at(doc, "base", "the base config cannot be used"), *err.problems]
        ) from err
    if not isinstance(base_doc.data, dict) or not is_plain_data(base_doc.data):
        raise ConfigError(
            [_at(doc, "base", f"{base_file} is not a config mapping of plain JSON data")]
        )
    mode = str(doc.data.get("mode", "product"))
    axes, problems, expandable = _check_axes(doc, base_doc.data, registry, mode)
    variants: list[Variant] = []
    duplicates = 0
    if expandable:  # also with broken axes: the valid ones still show their own problems
        variants, duplicates = _expand(axes, mode, base_doc.data, base_file.parent)
        problems += _variant_problems(doc, base_doc, variants, registry)
        if not problems:  # judged on valid configs only
            for path, hint in idle_axes(base_doc.data, axes, base_doc, registry):
                where = join_path("axes", path)
                message = (
                    f"axis {path!r} changes nothing in the resolved graph: "
                    f"its {len(axes[path])} values make identical renders"
                )
                problems.append(_at(doc, where, message, hint))
    if problems:
        raise ConfigError(problems)
    allow = bool(doc.data.get("allow_fallback", False))
    return Sweep(file, base_file, mode, axes, tuple(variants), duplicates, allow)


def _at(doc: ParsedDocument, path: str, message: str, hint: str = "") -> Problem:
    return Problem(doc.file, doc.line_of(path), path, message, hint)


def _sweep_problems(doc: ParsedDocument) -> list[Problem]:
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        return [_at(doc, "", f"a sweep must be a mapping, got {kind}", "see docs/batch.md")]
    return schema_problems(doc.data, SWEEP_SCHEMA, file=doc.file, base="", line_of=doc.line_of)


def _check_axes(
    doc: ParsedDocument,
    base: Mapping[str, Any],
    registry: Mapping[str, NodeType],
    mode: str,
) -> tuple[dict[str, tuple[Any, ...]], list[Problem], bool]:
    """Check every axis; return the valid ones, the problems, and whether to expand them.

    The valid axes are expanded and validated even when others are broken, so one run
    lists every problem; they are not when they would not form the sweep anyway (``zip``
    lengths differ, too many variants) or when none is valid.
    """
    axes: dict[str, tuple[Any, ...]] = {}
    problems: list[Problem] = []
    for axis_path, raw in doc.data["axes"].items():
        where = join_path("axes", axis_path)
        try:
            check_path(str(axis_path), base, registry)
            axes[str(axis_path)] = axis_values(raw)
        except AxisError as err:
            problems.append(_at(doc, where, err.message, err.hint))
    expandable = bool(axes)
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        lengths = ", ".join(f"{p} has {len(v)}" for p, v in axes.items())
        problems.append(
            _at(doc, "mode", f"zip needs axes of equal length: {lengths}", "or use mode: product")
        )
        expandable = False
    if expandable:
        count = _count(axes, mode)
        if count > MAX_VARIANTS:
            problems.append(
                _at(doc, "axes", f"the sweep expands to {count:,} variants, over {MAX_VARIANTS:,}")
            )
            expandable = False
    return axes, problems, expandable


def _count(axes: Mapping[str, tuple[Any, ...]], mode: str) -> int:
    lengths = [len(v) for v in axes.values()]
    return math.prod(lengths) if mode == "product" else (lengths[0] if lengths else 0)


def _expand(
    axes: Mapping[str, tuple[Any, ...]], mode: str, base: Mapping[str, Any], base_dir: Path
) -> tuple[list[Variant], int]:
    paths = list(axes)
    points = (
        itertools.product(*axes.values()) if mode == "product" else zip(*axes.values(), strict=True)
    )
    variants: list[Variant] = []
    seen: set[str] = set()
    duplicates = 0
    for point in points:
        data = copy.deepcopy(dict(base))
        for axis_path, value in zip(paths, point, strict=True):
            set_path(data, axis_path, copy.deepcopy(value))
        vid = variant_id(data, base_dir)
        if vid in seen:
            duplicates += 1
            continue
        seen.add(vid)
        variants.append(Variant(vid, len(variants), dict(zip(paths, point, strict=True)), data))
    return variants, duplicates


def _variant_problems(
    doc: ParsedDocument,
    base_doc: ParsedDocument,
    variants: list[Variant],
    registry: Mapping[str, NodeType],
) -> list[Problem]:
    """Validate each variant; collect, relocate and de-duplicate every problem."""
    base_dir = Path(base_doc.file).parent
    found: dict[Problem, list[Variant]] = {}
    for variant in variants:
        variant_doc = ParsedDocument(variant.data, base_doc.file, base_doc.lines)
        try:
            validate_config_data(variant_doc, registry=registry, base_dir=base_dir)
        except ConfigError as err:
            for problem in err.problems:
                found.setdefault(_relocate(doc, problem, variant), []).append(variant)
    problems: list[Problem] = []
    for problem, where in found.items():
        if len(where) == len(variants) and len(variants) > 1:
            suffix = "in every variant"
        else:
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            suffix = f"in variant {where[0].label()}{more}"
        problems.append(
            Problem(problem.file, problem.line, problem.path, f"{problem.message} [{suffix}]",
                    problem.hint)
        )  # fmt: skip
    return problems


def _relocate(doc: ParsedDocument, problem: Problem, variant: Variant) -> Problem:
    """Blame the axis that wrote the offending value, when one did, at its sweep line."""
    for axis_path in variant.values:
        if problem.path == axis_path or problem.path.startswith(axis_path + "."):
            where = join_path("axes", axis_path)
            return _at(doc, where, problem.message, problem.hint)
    return problem
