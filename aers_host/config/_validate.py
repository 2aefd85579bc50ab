"""Semantic validation: from parsed data to a :class:`GraphConfig`, or every problem at once.

Every phase runs, so one ``aers validate`` lists everything it can know; a check is left
out only where its input is missing or already reported (it would just echo that problem):

1. the top-level schema (unknown keys, types, ranges, sample rate);
2. per node: known ``type`` (did-you-mean), its params schema, its semantic checks
   (Nyquist, files that exist) on the params the schema accepted, its automation;
3. per connection: both ends exist, sources take no input, sinks give no output;
4. the whole graph: cycles only through nodes whose type can close a loop (traits
   ``feedback_delay``: the ``delay``), on every connection whose ends exist; such
   feedback delays at least a block long (where their params are well-formed); and,
   when every node's type and params are sound and every connection's ends exist, the
   channel counts at every input, naming every node with no input at all;
5. for ``require_length`` (``aers validate`` and ``render``): a graph with no ``duration``
   has only sources that end (the rule :func:`aers_host.graph.render_length` applies);
6. warnings, not errors: nodes whose audio reaches no output, sources connected to nothing
   (``GraphConfig.warnings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._automation import Lane, Point, parse_point
from .._channels import ChannelMismatch, NodeChannelError, infer_channels
from .._hints import did_you_mean
from .._length import DURATION_HINT, SourceEnd, endless_reason
from .._limits import MAX_THREADS
from .._nodetype import CheckContext, NodeType
from .._seeds import SEED_KEY, derive_seed, takes_seed
from .._topology import CycleError, Edge, Topology, loop_closers, plan_topology
from ..errors import ConfigError, Problem
from ._model import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_SAMPLE_RATE,
    NODE_OPTION_KEYS,
    ConnectionSpec,
    GraphConfig,
    NodeSpec,
)
from ._parse import ParsedDocument
from ._reach import unreached_warnings
from ._schema import config_schema, join_path, non_finite_paths, schema_problems, schema_range


class _Collector:
    """Accumulates located problems for one document."""

    def __init__(self, doc: ParsedDocument) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.doc.file, self.doc.line_of(path), path, message, hint))

    def extend(self, problems: list[Problem]) -> None:
        self.problems.extend(problems)


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything validation found: the config as far as it could be read, and the problems.

    ``config`` is complete when ``problems`` is empty; otherwise it holds every node that
    names a type (known or not), so later checks such as the scene's can still run.
    """

    config: GraphConfig
    problems: tuple[Problem, ...]

    def config_or_raise(self) -> GraphConfig:
        """The config, when nothing is wrong with it.

        Raises:
            ConfigError: with every problem found.
        """
        if self.problems:
            raise ConfigError(list(self.problems))
        return self.config


def inspect_document(
    doc: ParsedDocument,
    registry: Mapping[str, NodeType],
    base_dir: Path,
    *,
    require_length: bool = False,
) -> Inspection:
    """Run every check on a parsed config.

    Args:
        doc: the parsed document.
        registry: the node types to accept.
        base_dir: where relative paths resolve.
        require_length: also refuse what ``render`` would (no ``duration`` and a source
            that never ends).

    Raises:
        ConfigError: the document is not a mapping, or holds NaN/infinite numbers (nothing
            else can be checked meaningfully then).
    """
    out = _Collector(doc)
    data = doc.data
    if not isinstance(data, dict):
        out.add(
            "", f"config must be a mapping, got {type(data).__name__}", "see examples/demo.yaml"
        )
        raise ConfigError(out.problems)
    for path in non_finite_paths(data, ""):
        out.add(path, "must be a finite number (NaN and infinity are not)")
    if out.problems:
        raise ConfigError(out.problems)
    out.extend(schema_problems(data, config_schema(), file=doc.file, base="", line_of=doc.line_of))
    # Out-of-range values are reported by the schema; the checks below then use the
    # nearest valid one, so a rate of 0 does not also make every frequency "above Nyquist".
    sample_rate = _in_schema_range(
        "sample_rate", _int_or(data.get("sample_rate"), DEFAULT_SAMPLE_RATE)
    )
    block_size = _in_schema_range("block_size", _int_or(data.get("block_size"), DEFAULT_BLOCK_SIZE))
    ctx = CheckContext(sample_rate=sample_rate, block_size=block_size, base_dir=base_dir)

    raw_nodes: dict[str, Any] = data["nodes"] if isinstance(data.get("nodes"), dict) else {}
    checked = _check_nodes(raw_nodes, registry, ctx, out, _int_or(data.get("seed"), 0))
    raw_connections = data.get("connections") or []
    connections, ends_ok = _check_connections(
        raw_connections, raw_nodes, checked.types, _keyed_types(registry), out
    )
    edges = [Edge(c.src, c.dst, c.index, c.port, c.tap) for c in connections]
    topology = _check_cycles(raw_nodes, checked.types, edges, out)
    if topology is not None:
        _check_feedback(checked, topology, ctx, out)
        if ends_ok and checked.all_sound(raw_nodes):
            _check_channels(checked.nodes, edges, checked.types, topology.order, ctx, out)
    if require_length and "duration" not in data and checked.all_typed(raw_nodes):
        _check_length(checked, out)
    duration = data.get("duration")
    config = GraphConfig(
        file=doc.file,
        base_dir=base_dir,
        sample_rate=sample_rate,
        block_size=block_size,
        duration=float(duration) if isinstance(duration, (int, float)) else None,
        seed=_int_or(data.get("seed"), 0),
        threads=_threads(data.get("threads")),
        nodes=checked.nodes,
        connections=tuple(connections),
        events=tuple(data["events"]) if isinstance(data.get("events"), list) else (),
        data=data,
        lines=doc.lines,
        warnings=tuple(unreached_warnings(checked.nodes, checked.types, connections, doc)),
    )
    return Inspection(config, tuple(out.problems))


def _in_schema_range(key: str, value: int) -> int:
    """``value`` clamped to the ``minimum``/``maximum`` schema.json gives ``key``."""
    low, high = schema_range(key)
    return min(max(int(value), low), high)


def _threads(value: Any) -> int | None:
    """The ``threads`` key: a count, or None for ``auto`` or anything the schema refused."""
    count = _int_or(value, 0) if value != "auto" else 0
    return count if 1 <= count <= MAX_THREADS else None


def _int_or(value: Any, default: int) -> int:
    """``value`` as an int, ``default`` when it is none (the schema reports wrong values).

    JSON Schema counts ``44100.0`` as an integer, so the schema accepts it: it must then
    mean 44100 here too, not silently the default.
    """
    if isinstance(value, bool):
        return default
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else default


@dataclass(slots=True)
class _Nodes:
    """What the node phase learned: every node with a type name, and which are sound."""

    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    #: Node id -> its type, for types the registry knows.
    types: dict[str, NodeType] = field(default_factory=dict)
    #: Nodes whose params passed their schema (semantic checks aside).
    well_formed: set[str] = field(default_factory=set)
    #: Nodes with no problem at all in their params.
    sound: set[str] = field(default_factory=set)

    def all_typed(self, raw_nodes: Mapping[str, Any]) -> bool:
        """Every node of the document has a known type."""
        return len(self.types) == len(raw_nodes)

    def all_sound(self, raw_nodes: Mapping[str, Any]) -> bool:
        """Every node of the document has a known type and problem-free params."""
        return len(self.sound) == len(raw_nodes)


def _check_nodes(
    raw_nodes: Mapping[str, Any],
    registry: Mapping[str, NodeType],
    ctx: CheckContext,
    out: _Collector,
    seed: int,
) -> _Nodes:
    """Check every node; a seeded source without its own seed gets one derived from ``seed``."""
    found = _Nodes()
    for node_id, raw in raw_nodes.items():
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            continue  # the schema already reported it
        path = join_path("nodes", node_id)
        type_name = raw["type"]
        params = raw.get("params") or {}
        options = {k: raw[k] for k in NODE_OPTION_KEYS if k in raw}
        found.nodes[node_id] = NodeSpec(
            node_id, type_name, params if isinstance(params, dict) else {}, options
        )
        node_type = registry.get(type_name)
        if node_type is None:
            refused = getattr(registry, "refused", {}).get(type_name)
            hint = (
                (f"a plugin of that name was not loaded: {refused}" if refused else "")
                or (did_you_mean(type_name, list(registry)))
                or (
                    "built-in types: "
                    + ", ".join(n for n, t in registry.items() if t.origin == "builtin")
                )
            )
            out.add(join_path(path, "type"), f"unknown node type {type_name!r}", hint)
            continue
        found.types[node_id] = node_type
        seedless = isinstance(params, dict) and SEED_KEY not in params
        if seedless and takes_seed(node_type.params_schema()):
            derived = {**params, SEED_KEY: derive_seed(node_id, seed)}
            found.nodes[node_id] = NodeSpec(node_id, type_name, derived, options)
        if isinstance(raw.get("automation"), dict):
            _check_automation(raw["automation"], node_type, join_path(path, "automation"), ctx, out)
        if not isinstance(params, dict):
            continue  # the schema reported it
        before = len(out.problems)
        if _check_params(node_id, params, node_type, _node_ctx(ctx, node_id, raw), out):
            found.well_formed.add(node_id)
            if len(out.problems) == before:
                found.sound.add(node_id)
    return found


def _check_params(
    node_id: str,
    params: Mapping[str, Any],
    node_type: NodeType,
    ctx: CheckContext,
    out: _Collector,
) -> bool:
    """Schema problems of a node's params, and semantic checks of the part it accepted.

    A key the schema refused is left out of the semantic checks (they may rely on what
    the schema promises); when a required key is missing they do not run at all.

    Returns:
        Whether the params passed their schema.
    """
    params_path = join_path("nodes", node_id, "params")
    found = schema_problems(
        params, node_type.params_schema(), file=out.doc.file, base=params_path,
        line_of=out.doc.line_of,
    )  # fmt: skip
    out.extend(found)
    refused = {p.path[len(params_path) + 1 :].split(".", 1)[0] for p in found}
    accepted = {k: v for k, v in params.items() if k not in refused}
    required = node_type.params_schema().get("required", ())
    if "" in refused or any(key not in accepted for key in required):
        return False
    for issue in node_type.check(accepted, ctx):
        out.add(join_path(params_path, issue.path), issue.message, issue.hint)
    return not found


def _check_automation(
    lanes: Mapping[str, Any], node_type: NodeType, path: str, ctx: CheckContext, out: _Collector
) -> None:
    """Automated parameters must be declared, their points well-formed and in range."""
    specs = {spec.name: spec for spec in node_type.param_specs()}
    for param, points in lanes.items():
        lane_path = join_path(path, param)
        spec = specs.get(param)
        if spec is None:
            hint = did_you_mean(param, list(specs)) or (
                f"automatable: {', '.join(specs)}" if specs else "this node type has none"
            )
            message = f"{param!r} is not an automatable parameter of {node_type.name}"
            out.add(lane_path, message, hint)
            continue
        if not isinstance(points, list):
            continue  # the schema reported it
        parsed: list[Point] = []
        for index, raw_point in enumerate(points):
            try:
                point = parse_point(raw_point, ctx.sample_rate)
            except (ValueError, TypeError) as err:
                out.add(join_path(lane_path, index), str(err))
                continue
            problem = spec.check(point.value)
            if problem:
                out.add(join_path(lane_path, index), problem)
            parsed.append(point)
        if len(parsed) == len(points):
            try:
                Lane.from_points(param, parsed)
            except ValueError as err:
                out.add(lane_path, str(err))


def _node_ctx(ctx: CheckContext, node_id: str, raw: Mapping[str, Any]) -> CheckContext:
    options = {k: raw[k] for k in NODE_OPTION_KEYS if k in raw}
    return CheckContext(
        sample_rate=ctx.sample_rate,
        block_size=ctx.block_size,
        base_dir=ctx.base_dir,
        node_id=node_id,
        node_options=options,
    )


def _check_connections(
    raw_connections: Any,
    raw_nodes: Mapping[str, Any],
    types: Mapping[str, NodeType],
    keyed: str,
    out: _Collector,
) -> tuple[list[ConnectionSpec], bool]:
    """The well-formed connections, and whether every connection is sound.

    Sound means the later channel check can trust the wiring: every entry names two
    existing nodes and breaks no role rule.
    """
    connections: list[ConnectionSpec] = []
    if not isinstance(raw_connections, list):
        return connections, False
    before = len(out.problems)
    known = list(raw_nodes)
    for index, raw in enumerate(raw_connections):
        if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), str) for k in ("from", "to")
        ):
            continue
        path = join_path("connections", index)
        ok = True
        for end in ("from", "to"):
            node_id = raw[end]
            if node_id not in raw_nodes:
                hint = did_you_mean(node_id, known) or f"nodes are: {', '.join(known)}"
                out.add(join_path(path, end), f"connection {end} missing node {node_id!r}", hint)
                ok = False
        if not ok:
            continue
        src_type, dst_type = types.get(raw["from"]), types.get(raw["to"])
        if src_type is not None and src_type.role == "sink":
            out.add(
                join_path(path, "from"),
                f"{raw['from']!r} is an output (sink) and has no output to connect",
            )
        if (
            raw.get("port") == "sidechain"
            and dst_type is not None
            and not dst_type.traits.sidechain
        ):
            out.add(
                join_path(path, "port"),
                f"{raw['to']!r} ({dst_type.name}) has no side-chain input",
                f"side-chain {keyed or 'a node that has one'}, or use port: main",
            )
        if raw.get("tap") == "pre" and src_type is not None and src_type.role == "source":
            out.add(
                join_path(path, "tap"),
                f"{raw['from']!r} is a source and has no input to send pre-fader",
                "use tap: post",
            )
        if dst_type is not None and dst_type.role == "source":
            out.add(
                join_path(path, "to"),
                f"{raw['to']!r} is a source ({dst_type.name}) and takes no input",
                "connect it to a processor or mix instead",
            )
        gain = raw.get("gain_db", 0.0)
        connections.append(
            ConnectionSpec(
                raw["from"],
                raw["to"],
                float(gain) if isinstance(gain, (int, float)) else 0.0,
                str(raw.get("port", "main")),
                index,
                str(raw.get("tap", "post")),
            )
        )
    sound = len(out.problems) == before and len(connections) == len(raw_connections)
    return connections, sound


def _keyed_types(registry: Mapping[str, NodeType]) -> str:
    """The types that take a side-chain, for the hint: "a `compressor` or a `duck`"."""
    return " or ".join(f"a `{name}`" for name, t in registry.items() if t.traits.sidechain)


def _check_cycles(
    raw_nodes: Mapping[str, Any], types: Mapping[str, NodeType], edges: list[Edge], out: _Collector
) -> Topology | None:
    """The plan's order, or None after reporting a cycle that no delay node breaks.

    Works from every node of a known type, so one whose params are wrong still counts as
    a delay.
    """
    try:
        return plan_topology(list(raw_nodes), edges, loop_closers(types))
    except CycleError as err:
        last, first = err.cycle[-1], err.cycle[0]
        closing = next(e.index for e in edges if e.src == last and e.dst == first)
        out.add(
            join_path("connections", closing),
            f"cycle {err} is not broken by a delay node",
            "feedback must pass through a `delay` node of at least one block",
        )
        return None


def _check_feedback(
    checked: _Nodes, topology: Topology, ctx: CheckContext, out: _Collector
) -> None:
    """A delay closing a loop must hold at least a block (well-formed delays only)."""
    for node_id in topology.feedback_nodes:
        feedback_delay = checked.types[node_id].traits.feedback_delay
        if node_id not in checked.well_formed or feedback_delay is None:
            continue  # its params problem is reported; its length is unknown
        length = feedback_delay(checked.nodes[node_id].params, ctx.sample_rate)
        if length < ctx.block_size:
            out.add(
                join_path("nodes", node_id, "params"),
                f"delay {node_id!r} closes a feedback loop but is {length} samples long, "
                f"shorter than block_size {ctx.block_size}",
                "lengthen the delay or lower block_size",
            )


def _check_length(checked: _Nodes, out: _Collector) -> None:
    """What ``render`` refuses without a ``duration``: a source that never ends."""
    sources = []
    for node_id, node_type in checked.types.items():
        if node_type.role != "source":
            continue
        params = checked.nodes[node_id].params
        ends = node_type.traits.ends
        sources.append(
            SourceEnd(
                node_id,
                node_type.name,
                ends is not None and bool(ends(params)),
                params.get("loop") is True,
            )
        )
    reason = endless_reason(sources)
    if reason is not None:
        out.add(
            "duration", f"no `duration` and {reason}", f"{DURATION_HINT}; `aers run` needs none"
        )


def _check_channels(
    nodes: Mapping[str, NodeSpec],
    edges: list[Edge],
    types: Mapping[str, NodeType],
    order: tuple[str, ...],
    ctx: CheckContext,
    out: _Collector,
) -> None:
    def rule(node_id: str, n_in: int | None) -> int:
        spec = nodes[node_id]
        return types[node_id].output_channels(
            spec.params, n_in, _node_ctx(ctx, node_id, spec.options)
        )

    refusals: list[ChannelMismatch | NodeChannelError] = []
    infer_channels(order, edges, rule, refusals)
    for err in refusals:
        if isinstance(err, ChannelMismatch):
            out.add(
                join_path("nodes", err.node),
                str(err),
                "insert a `pan` node to make mono stereo, or set `channels` on the source",
            )
        else:
            out.add(join_path("nodes", err.node), str(err), err.error.hint)
