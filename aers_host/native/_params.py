r"""One source of truth for a native plugin's parameters: the compiled descriptor.

A native plugin declares its parameters in C++ (``aers_param_info_t kParams[]``); the
manifest must say the same, because the config validator reads the manifest. So
``aers plugin build`` copies the built library's descriptor params into
``manifest.in.json`` (:func:`sync_source_params`), and ``aers plugin sign`` refuses a
manifest whose params differ from the library it signs (:func:`params_mismatch`), naming
both sides. Each manifest entry keeps its own extra keys (``doc``).

The library read here is the author's own, just built, loaded from its bytes through the
same :func:`~._library.open_library` path a verified plugin takes.

Example:
    >>> ours = [{"name": "g", "min": 0, "max": 1, "default": 0, "unit": "dB"}]
    >>> theirs = [{**ours[0], "max": 2}]
    >>> print(params_mismatch(ours, theirs)[0].replace("; ", ";\n"))
    'g': manifest.in.json says min 0, max 1, default 0, unit 'dB';
    the descriptor says min 0, max 2, default 0, unit 'dB'
    >>> params_mismatch(ours, ours)
    []
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .._paths import atomic_write
from ..errors import PluginError
from ..plugins._manifest import SOURCE_FILE
from ._library import open_sealed, seal_bytes

#: The fields of a manifest param that must equal the descriptor's.
_FIELDS: Final = ("min", "max", "default", "unit")


def library_params(name: str, entry: str, library: bytes) -> list[dict[str, Any]]:
    """[main-thread] The descriptor params of ``library`` (its bytes), as manifest entries.

    Raises:
        PluginValidationError: the descriptor's params are invalid.
        NativeABIError: not loadable, entry symbol missing, incompatible ABI.
    """
    sealed = seal_bytes(name, entry, library, hashlib.sha256(library).hexdigest())
    return [
        {"name": p.spec.name, "default": p.spec.default, "min": p.spec.min, "max": p.spec.max,
         "unit": p.spec.unit}
        for p in open_sealed(name, sealed).params
    ]  # fmt: skip


def params_mismatch(
    declared: Sequence[Mapping[str, Any]],
    described: Sequence[Mapping[str, Any]],
    *,
    every: bool = True,
) -> list[str]:
    """[any-thread] Every difference between the manifest's params and the descriptor's.

    Args:
        declared: ``manifest.in.json``'s params.
        described: the descriptor's (:func:`library_params`).
        every: also report descriptor params the manifest leaves out. ``sign`` does not:
            a left-out parameter only cannot be set from configs, while a param the
            library does not have, or with another range, default or unit, is wrong.
    """
    ours = {str(p.get("name")): p for p in declared}
    theirs = {str(p["name"]): p for p in described}
    problems = []
    for name, want in theirs.items():
        have = ours.get(name)
        if have is None:
            if every:
                problems.append(f"{name!r}: the descriptor declares it, manifest.in.json does not")
        elif any(_value(have, f) != _value(want, f) for f in _FIELDS):
            problems.append(
                f"{name!r}: manifest.in.json says {_describe(have)}; "
                f"the descriptor says {_describe(want)}"
            )
    problems += [
        f"{name!r}: manifest.in.json declares it, the descriptor does not"
        for name in ours
        if name not in theirs
    ]
    return problems


def _value(param: Mapping[str, Any], field: str) -> Any:
    value = param.get(field, "" if field == "unit" else None)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _describe(param: Mapping[str, Any]) -> str:
    parts = []
    for field in _FIELDS:
        value = _value(param, field)
        parts.append(f"{field} {value:g}" if isinstance(value, float) else f"{field} {value!r}")
    return ", ".join(parts)


def sync_source_params(plugin_dir: Path) -> list[str] | None:
    """[main-thread] Write the built library's descriptor params into ``manifest.in.json``.

    Entries keep their extra keys (``doc``); the order follows the descriptor.

    Returns:
        The differences that were fixed (empty: already in agreement), or None when the
        folder has no ``manifest.in.json`` (nothing to keep in step).

    Raises:
        PluginError: the source or the library named by its ``entry`` is unreadable.
        PluginValidationError: the descriptor's params are invalid.
        NativeABIError: the library cannot be loaded.
    """
    source_path = plugin_dir / SOURCE_FILE
    if not source_path.is_file():
        return None
    try:
        source = json.loads(source_path.read_text(encoding="utf-8"))
        entry = str(source["entry"])
        library = (plugin_dir / entry.split(":", 1)[0]).read_bytes()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PluginError(f"{source_path}: cannot read the entry's library: {err}") from err
    described = library_params(str(source.get("name", plugin_dir.name)), entry, library)
    declared = list(source.get("params") or [])
    changes = params_mismatch(declared, described)
    if changes:
        extras = {str(p.get("name")): p for p in declared if isinstance(p, Mapping)}
        source["params"] = [{**extras.get(p["name"], {}), **p} for p in described]
        text = json.dumps(source, indent=2) + "\n"
        atomic_write(source_path, text.encode("utf-8"), mode=0o644)
    return changes
