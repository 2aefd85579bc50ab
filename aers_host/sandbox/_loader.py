"""Loading Python plugins: the plugin class shape, and the sandbox / in-process choice.

Writing a plugin
----------------
The author's reference is docs/plugin-api.md, "Sandboxed Python plugins". A plugin is one
module that may ``import math`` and ``import numpy as np`` (nothing else) and defines the
class named by the manifest entry (``tremolo.py:Tremolo``)::

    import math
    import numpy as np

    class Tremolo:
        latency_samples = 0              # optional class attribute, int

        def prepare(self, sample_rate, max_block, channels):
            self.rate = sample_rate      # self.params is already set here
            self.phase = 0.0

        def process(self, inp, out, start, events):
            depth = self.params["depth"]
            n = out.shape[1]
            t = (start + np.arange(n)) / self.rate
            gain = 1.0 - depth * 0.5 * (1.0 + np.sin(2.0 * math.pi * self.params["rate_hz"] * t))
            np.multiply(inp, gain, out=out)

        def reset(self): ...             # optional
        def get_state(self): return {}   # optional, JSON-serialisable dict
        def set_state(self, state): ...  # optional

Contract: the class is constructed with no arguments; the host sets ``self.params`` (a dict
name → float of the current parameter values, clamped to the manifest's ranges) before
``prepare(sample_rate, max_block, channels)``. ``process(inp, out, start, events)`` gets
float32 arrays shaped ``(channels, frames)`` — output channels equal input channels — and
the absolute sample index ``start`` of the first frame; it must write all of ``out``. The
host splits each block at parameter-change offsets and updates ``self.params`` between
the spans, so ``events`` is always an empty tuple. Restrictions (RestrictedPython): no
names starting with ``_``, no ``open``/``exec``/``eval``/``getattr``/``type``; attributes
may be set on ``self`` and elements written into arrays, nothing else; ``a[i] += x`` must be
written ``a[i] = a[i] + x``.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from .._features import health_of
from .._limits import check_latency, max_latency_samples
from .._nodetype import CheckContext
from .._processor import Processor
from ..errors import LimitError, PluginError, PluginValidationError, SandboxDegradedWarning
from ..plugins._verified import VerifiedPlugin
from ._host import SandboxedProcessor
from ._inprocess import InProcessProcessor
from ._options import NodeOptions, StageSpec, worker_default
from ._refused import RefusedProcessor
from ._restricted import compile_plugin
from ._runtime import initial_params, param_ranges
from ._scope import share_key

_probe_cache: dict[str, str] | None = None
_PROBE_SOURCE = (
    b"class Probe:\n    def process(self, inp, out, start, events):\n        out[:] = inp\n"
)


def _static_latency(source: bytes, class_name: str, ctx: CheckContext, who: str) -> int:
    """``latency_samples = <literal>`` in the class body, read without running the code.

    The host plans with this value before any worker runs, so it must be readable from the
    source: a whole-number literal (``64``, or annotated ``latency_samples: int = 64``),
    bounded by :func:`~aers_host._limits.check_latency`. A computed one (``64 * 2``) is
    refused: the worker would see another latency than the planner compensated for.

    Raises:
        LimitError: a computed, non-integer or out-of-range latency (names node and limit).
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                targets = (
                    item.targets
                    if isinstance(item, ast.Assign)
                    else [item.target]
                    if isinstance(item, ast.AnnAssign) and item.value is not None
                    else []
                )
                if not any(isinstance(t, ast.Name) and t.id == "latency_samples" for t in targets):
                    continue
                assert isinstance(item, ast.Assign | ast.AnnAssign) and item.value is not None
                try:
                    value = ast.literal_eval(item.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    top = max_latency_samples(ctx.sample_rate)
                    raise LimitError(
                        who, "latency_samples", ast.unparse(item.value)[:40],
                        f"a whole-number literal in 0…{top} (the host reads it without "
                        "running the plugin)",
                    ) from None  # fmt: skip
                return check_latency(value, ctx.sample_rate, who)
    return 0


def _stage(
    plugin: VerifiedPlugin,
    params: Mapping[str, Any],
    opts: NodeOptions,
    ctx: CheckContext,
    compile_now: bool = True,
) -> StageSpec:
    """Check the plugin in the host without running it: kind, entry, restricted compile.

    Raises:
        PluginValidationError: not a Python plugin, no such entry, or (``compile_now``)
            source the sandbox compiler refuses.
        LimitError: its class declares a latency out of range (``aers_host._limits``).
    """
    if plugin.kind != "python":
        raise PluginValidationError(plugin.name, f"kind {plugin.kind!r} is not a Python plugin")
    if not plugin.entry_symbol or plugin.entry_file not in plugin.files:
        raise PluginValidationError(
            plugin.name, f"entry {plugin.entry!r} names no verified file and class"
        )
    source = plugin.entry_bytes()
    if compile_now:
        compile_plugin(source, plugin.entry_file)  # early, precise errors; nothing runs here
    return StageSpec(
        name=plugin.name,
        filename=plugin.entry_file,
        class_name=plugin.entry_symbol,
        source=source,
        params=initial_params(plugin.param_dicts, params),
        ranges=param_ranges(plugin.param_dicts),
        fallback=opts.fallback,
        latency_samples=_static_latency(
            source, plugin.entry_symbol, ctx, ctx.node_id or plugin.name
        ),
    )


def load_python_plugin(
    plugin: VerifiedPlugin, params: Mapping[str, Any], ctx: CheckContext
) -> Processor:
    """[main-thread] Build the Processor for a verified Python plugin node.

    ``isolation`` (node option, else the manifest's) picks a :class:`SandboxedProcessor`
    (a worker subprocess: ``per-instance``/``sandbox``, or shared with other nodes:
    ``per-plugin``, ``shared`` — the default, :func:`~._options.worker_default`; see
    :mod:`._scope`) or an
    :class:`InProcessProcessor`. A private worker starts at ``prepare``, a shared one when
    the graph build's :class:`~._scope.WorkerScope` exits.

    A plugin refused at load — source the sandbox compiler refuses or, in-process, a
    module or constructor that raises (e.g. a refused ``import``) — is not an error: its
    node is a :class:`~._refused.RefusedProcessor`, failed from the start, on its fallback,
    with the refusal as ``failure_reason``. (A sandboxed plugin the *worker* refuses, or
    whose worker cannot start, fails its :class:`SandboxedProcessor` at ``prepare`` the
    same way.) The refused code never runs.

    Raises:
        PluginValidationError: wrong kind or entry, or bad node options (config errors).
    """
    label = ctx.node_id or plugin.name
    opts = NodeOptions.parse(
        ctx.node_options, worker_default(plugin.isolation), ctx.sample_rate, ctx.block_size, label
    )
    try:
        stage = _stage(plugin, params, opts, ctx, compile_now=False)
    except LimitError as exc:  # refused before anything is sized by it: the node fails
        fallback_params = initial_params(plugin.param_dicts, params)
        return RefusedProcessor(label, str(exc), opts.fallback, fallback_params)
    try:
        compile_plugin(stage.source, stage.filename)  # nothing runs here
        if opts.isolation == "in-process":
            return InProcessProcessor(stage, opts, label)  # runs the (restricted) module
    except Exception as exc:  # a refusal, or plugin code raising: the node fails, not the run
        reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        return RefusedProcessor(label, reason, opts.fallback, stage.params)
    return SandboxedProcessor([stage], opts, label, share_key(plugin, opts.isolation))


def load_python_chain(
    nodes: Sequence[tuple[VerifiedPlugin, Mapping[str, Any]]], ctx: CheckContext
) -> SandboxedProcessor:
    """[main-thread] Host consecutive sandboxed plugins of one trust domain in one worker.

    One doorbell per block for the whole chain instead of one per plugin. Events address
    stage ``k`` as ``"k:param"`` (a bare name addresses stage 0); state is
    ``{"stages": [...]}``.

    Raises:
        PluginValidationError: empty chain, or plugins signed by different keys.
    """
    if not nodes:
        raise PluginValidationError(ctx.node_id or "chain", "a chain needs at least one plugin")
    keys = {plugin.keyid for plugin, _ in nodes}
    if len(keys) > 1:
        raise PluginValidationError(
            ctx.node_id or "chain", "a worker hosts plugins of one signing key only"
        )
    first = nodes[0][0]
    opts = NodeOptions.parse(
        ctx.node_options, "sandbox", ctx.sample_rate, ctx.block_size, first.name
    )
    stages = [_stage(plugin, params, opts, ctx) for plugin, params in nodes]
    return SandboxedProcessor(stages, opts, ctx.node_id or "+".join(p.name for p, _ in nodes))


def probe_fences() -> dict[str, str]:
    """[main-thread] What each fence gives on this machine, asked of a real worker; cached.

    Keys: ``rlimits``, ``no_new_privs``, ``netns``, ``seccomp``, ``landlock``,
    ``pdeathsig``; values ``"applied..."`` or ``"unavailable: <why>"``. Warns with
    :class:`SandboxDegradedWarning` when a fence is missing.
    """
    global _probe_cache
    if _probe_cache is None:
        probe = VerifiedPlugin(
            "aers-probe", "0", "python", "probe.py:Probe", "sandbox", {"probe.py": _PROBE_SOURCE}
        )
        ctx = CheckContext(
            sample_rate=48000, block_size=64, base_dir=__import__("pathlib").Path(".")
        )
        processor = load_python_plugin(probe, {}, ctx)
        try:
            processor.prepare(48000, 64, 1)  # a worker that cannot start fails the node
            health = health_of(processor)
            if health.failed:
                report = {"worker": f"unavailable: {health.failure_reason}"}
            else:
                report = dict(getattr(processor, "fences", {}))
        finally:
            processor.close()  # type: ignore[attr-defined]
        _probe_cache = report
    missing = sorted(k for k, v in _probe_cache.items() if not v.startswith("applied"))
    if missing:
        warnings.warn(
            f"sandbox fences unavailable here: {', '.join(missing)}",
            SandboxDegradedWarning,
            stacklevel=2,
        )
    return dict(_probe_cache)
