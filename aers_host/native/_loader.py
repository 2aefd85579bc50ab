"""``load_native_plugin``: from a verified plugin and a node's params to a NativeProcessor.

Order of checks (each refusal names the plugin and what was expected):

1. Isolation, chosen by the node (``isolation:`` beside ``params``), never by the manifest:
   ``in-process`` (the default) loads the library here; ``per-instance`` (``sandbox``),
   ``per-plugin`` or ``shared`` host it in a fenced worker (see
   ``aers_host.native._stage``): the host then never maps the code, and a crash
   in it costs the node a restart or its fallback, not the process.
2. :func:`~aers_host.native._library.open_library`: memfd copy, re-hash, dlopen, ABI and
   descriptor checks (see that module for the numbered steps).
3. The signed manifest's params agree with the descriptor (the config validator only knows
   the manifest, so a manifest range the library cannot honour is refused).
4. The node's params name known parameters with values in range.

Example:
    >>> from aers_host.native import load_native_plugin   # doctest: +SKIP
    >>> proc = load_native_plugin(verified, {"room_size": 0.8}, ctx)  # doctest: +SKIP
    >>> proc.prepare(48000, 512, 2)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._nodetype import CheckContext
from .._processor import Processor
from ..errors import PluginValidationError
from ..plugins._model import ManifestParam
from ..plugins._verified import VerifiedPlugin
from ._library import NativeParam, open_library
from ._processor import NativeProcessor


def load_native_plugin(
    plugin: VerifiedPlugin, params: Mapping[str, Any], ctx: CheckContext
) -> Processor:
    """[main-thread] Load a verified native plugin and create an (unprepared) processor.

    Args:
        plugin: the verified plugin; only its verified bytes are loaded.
        params: the node's ``params`` from the config (parameter name → number).
        ctx: the node's context; ``ctx.node_options["isolation"]`` picks in-process (the
            default) or a worker.

    Returns:
        A :class:`NativeProcessor`, or a ``SandboxedProcessor`` for a worker isolation; the
        engine calls ``prepare`` before the first block.

    Raises:
        HashMismatchError: the library bytes differ from the manifest's sha256.
        NativeABIError: missing entry symbol, incompatible ABI, dlopen failure.
        PluginValidationError: invalid descriptor params, manifest/descriptor mismatch,
            unknown or out-of-range node params.
    """
    # Step 1: the user's node option decides where the code runs.
    from ..sandbox._options import NodeOptions  # the sandbox only when a node asks for it

    label = ctx.node_id or plugin.name
    opts = NodeOptions.parse(ctx.node_options, "in-process", ctx.sample_rate, ctx.block_size, label)
    if opts.isolation != "in-process":
        from ..sandbox._host import SandboxedProcessor
        from ..sandbox._scope import share_key
        from ._stage import native_stage

        stage = native_stage(plugin, params, opts)
        return SandboxedProcessor([stage], opts, label, share_key(plugin, opts.isolation))
    library = open_library(plugin)  # step 2
    defaults = manifest_defaults(plugin.name, plugin.params, library.params)  # step 3
    values = {**defaults, **node_values(plugin.name, params, library.params)}  # step 4
    return NativeProcessor(library, values)


def manifest_defaults(
    name: str, manifest_params: tuple[ManifestParam, ...], params: tuple[NativeParam, ...]
) -> dict[str, float]:
    """Check the signed manifest's params against the descriptor; return manifest defaults.

    Raises:
        PluginValidationError: a manifest param is unknown to the library, or its range or
            default does not fit inside the descriptor's range.
    """
    by_name = {p.spec.name: p.spec for p in params}
    defaults: dict[str, float] = {}
    problems: list[str] = []
    for declared in manifest_params:
        pname = declared.name
        spec = by_name.get(pname)
        if spec is None:
            problems.append(f"manifest param {pname!r} is not in the library's descriptor")
            continue
        lo, hi, default = float(declared.min), float(declared.max), float(declared.default)
        if not spec.min <= lo <= default <= hi <= spec.max:
            problems.append(
                f"manifest param {pname!r} range [{lo:g}, {hi:g}] default {default:g} does not "
                f"fit the descriptor's [{spec.min:g}, {spec.max:g}]"
            )
            continue
        defaults[pname] = default
    if problems:
        raise PluginValidationError(name, "; ".join(problems))
    return defaults


def node_values(
    name: str, params: Mapping[str, Any], declared: tuple[NativeParam, ...]
) -> dict[str, float]:
    """Map a node's params onto descriptor parameters, refusing unknown or bad values.

    Raises:
        PluginValidationError: every unknown name and out-of-range value, in one message.
    """
    specs = {p.spec.name: p.spec for p in declared}
    values: dict[str, float] = {}
    problems: list[str] = []
    for key, raw in params.items():
        spec = specs.get(key)
        if spec is None:
            problems.append(f"unknown parameter {key!r} (known: {', '.join(specs) or 'none'})")
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            problems.append(f"{key} must be a finite number, got {raw!r}")
            continue
        problem = spec.check(float(raw))
        if problem:
            problems.append(problem)
            continue
        values[key] = float(raw)
    if problems:
        raise PluginValidationError(name, "; ".join(problems))
    return values
