"""From a validated config to a runnable plan: processors created, prepared and wired.

Everything that allocates happens here, once: processors are prepared, every node's
input and output buffers are allocated at the block size, and each input connection is
resolved to (source buffer, linear gain, optional compensation delay line).

Latency compensation (plugin delay compensation): the *path latency* of a node is the
largest path latency among its inputs plus its own ``latency_samples``. Each input whose
path is shorter gets a delay line of the difference, so parallel paths line up sample
for sample at every mix point. Feedback edges are not compensated (their timing is the
loop's delay by definition); side-chain inputs are not either (a detector, not a signal).

Sandboxed plugin nodes that share a worker (``isolation: shared``/``per-plugin``) are created
inside a :func:`~aers_host.sandbox.shared_workers` scope, so each shared worker starts once
with all its nodes; linear runs of such nodes are then fused into one worker round trip
per block (:func:`~aers_host.sandbox.fuse_sandboxed_runs`). The engine sees no difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._automation import Lane
from .._channels import ChannelMismatch, NodeChannelError, infer_channels
from .._features import FollowsTiming, RendersChanges, TakesSidechain, close_if_held
from .._limits import MAX_PATH_LATENCY_SECONDS, check_latency
from .._nodetype import NO_TRAITS, CheckContext, NodeTraits, NodeType, Role
from .._processor import Buffer, ParamEvent, Processor
from .._timing import REALTIME, SubstitutionLog, Timing
from .._topology import Edge, loop_closers, plan_topology
from ..config._model import ConnectionSpec, GraphConfig
from ..dsp._common import db_to_lin
from ..errors import GraphError, LimitError


@dataclass(slots=True)
class InputEdge:
    """One resolved input connection of a node."""

    src: int
    gain: float
    compensation: int = 0
    line: np.ndarray | None = None
    pos: int = 0
    back: bool = False
    #: Reads the source's input instead of its output (a pre-fader send).
    pre: bool = False
    #: Gain change per sample while a crossfade ramp runs, and samples of ramp left.
    step: float = 0.0
    ramp: int = 0
    #: Samples to wait before the ramp starts (new processors filling their latency).
    hold: int = 0
    #: Gain once the ramp ends (exact, no accumulated rounding).
    target: float = 0.0


@dataclass(slots=True)
class NodeRuntime:
    """A node ready for the block loop. Buffers are (channels, block_size) float32."""

    id: str
    type_name: str
    role: Role
    proc: Processor
    channels_in: int
    channels_out: int
    latency: int
    path_latency: int
    out_buf: Buffer
    in_buf: Buffer
    edges: list[InputEdge] = field(default_factory=list)
    sidechain_edges: list[InputEdge] = field(default_factory=list)
    sidechain_buf: Buffer | None = None
    #: Index of the node whose output this node reads directly (one unity input, no copy).
    direct: int = -1
    feedback: bool = False
    event_target: bool = False
    bypass: bool = False
    mute: bool = False
    #: Pending automation: (absolute sample, event), sorted by sample.
    automation: list[tuple[int, ParamEvent]] = field(default_factory=list)
    #: Automation lanes from the config or the Python API.
    lanes: list[Lane] = field(default_factory=list)
    #: What replaces a block of NaN/Inf output: ``bypass`` (the input, if finite) or ``silence``.
    fallback: str = "bypass"
    #: Blocks whose output held NaN/Inf (replaced by the engine, see ``Engine``).
    nonfinite_blocks: int = 0
    #: The blocks the engine replaced.
    substituted: SubstitutionLog = field(default_factory=SubstitutionLog)
    #: What its node type declares (metered, linear, onset delay...).
    traits: NodeTraits = NO_TRAITS
    #: Parameters whose dense changes the processor renders in one call (its
    #: ``CHANGE_PARAMS``, :class:`~aers_host._features.RendersChanges`), read once here.
    change_params: frozenset[str] = frozenset()


@dataclass(slots=True)
class Plan:
    """The runnable graph: nodes in processing order, with their buffers and latencies."""

    config: GraphConfig
    nodes: list[NodeRuntime]
    index: dict[str, int]
    sample_rate: int
    block_size: int
    total_latency: int
    feedback: list[int]
    #: Samples crossfade ramps wait before starting (live-edit transitions only).
    ramp_hold: int = 0
    #: Real time (deadlines) or offline (wait for every node): see ``aers_host._timing``.
    timing: Timing = REALTIME

    def node(self, node_id: str) -> NodeRuntime:
        """The runtime of ``node_id``."""
        return self.nodes[self.index[node_id]]

    def sinks(self) -> list[NodeRuntime]:
        """Output nodes, in order."""
        return [n for n in self.nodes if n.role == "sink"]

    def input_of(self, node: NodeRuntime) -> Buffer:
        """The buffer ``node`` reads its input from: its own, or its direct upstream's output."""
        return self.nodes[node.direct].out_buf if node.direct >= 0 else node.in_buf

    def close(self) -> None:
        """Release processors that hold outside resources (workers, native handles)."""
        for node in self.nodes:
            close_if_held(node.proc)


def build_plan(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    *,
    total_frames: int | None = None,
    event_targets: frozenset[str] = frozenset(),
    reuse: Mapping[str, Processor] | None = None,
    ramps: Mapping[int, tuple[float, float]] | None = None,
    ramp_samples: int = 0,
    compensation: Mapping[int, int] | None = None,
    ramp_hold: int = 0,
    fuse: bool = True,
    timing: Timing = REALTIME,
    describe_only: bool = False,
) -> Plan:
    """Create, prepare and wire every node of a validated config.

    Args:
        config: the validated config.
        registry: node types to create processors with.
        total_frames: render length, when known.
        event_targets: nodes that receive scene events.
        reuse: node id → an already prepared processor to keep (live edits: its state
            survives). The caller guarantees the same type and channel layout.
        ramps: connection index → (start, end) linear gain, ramped over ``ramp_samples``
            (live edits crossfade added and removed paths).
        ramp_samples: length of those ramps.
        ramp_hold: samples every ramp waits before it starts.
        fuse: bind fused sandbox runs. Live edits pass False: binding touches processors
            the running plan is still using, which only the audio thread may do.
        compensation: connection index → compensation delay, replacing the computed
            alignment (a live edit's transition keeps each path's timing while it fades).
        timing: real time (default: what the live graph and ``aers run`` need) or offline
            (renders: sandboxed and remote nodes are waited for, only a hang limit stops
            them). Handed to each new processor's ``set_timing`` before ``prepare``.
        describe_only: a plan to show, never to run (``aers graph``): sandboxed nodes whose
            latency their Python source declares start no worker (see
            :func:`~aers_host.sandbox.shared_workers`); close the plan when done.

    Raises:
        GraphError: when a processor cannot be created or prepared.
        LimitError: a processor reports a latency out of range (``aers_host._limits``).
    """
    edges = [Edge(c.src, c.dst, c.index, c.port, c.tap) for c in config.connections]
    types = {n: registry[spec.type] for n, spec in config.nodes.items()}
    topology = plan_topology(list(config.nodes), edges, loop_closers(types))
    index = {node_id: i for i, node_id in enumerate(topology.order)}
    block = config.block_size
    contexts = {n: _context(config, n, total_frames) for n in topology.order}
    try:
        channels, channels_in = infer_channels(
            topology.order,
            edges,
            lambda n, n_in: types[n].output_channels(config.nodes[n].params, n_in, contexts[n]),
        )
    except (ChannelMismatch, NodeChannelError) as err:
        raise GraphError(f"{config.file}: {err}") from err
    from ..sandbox import fuse_sandboxed_runs, shared_workers  # loaded only when planning

    forward_inputs: dict[str, list[ConnectionSpec]] = {}
    for conn in config.connections:  # grouped once: planning stays linear in graph size
        if conn.index not in topology.back_edges:
            forward_inputs.setdefault(conn.dst, []).append(conn)
    runtimes: list[NodeRuntime] = []
    # Sandboxed nodes that share a worker start it together on exit (describing: if needed).
    with shared_workers(describe_only=describe_only):
        for node_id in topology.order:
            runtimes.append(
                _create_node(
                    config,
                    types[node_id],
                    contexts[node_id],
                    channels_in.get(node_id),
                    channels[node_id],
                    index,
                    forward_inputs.get(node_id, []),
                    runtimes,
                    node_id in event_targets,
                    (reuse or {}).get(node_id),
                    compensation,
                    timing,
                )
            )
    if compensation is None:
        _realign(runtimes, index, forward_inputs, config.sample_rate)
    for node in runtimes:
        _apply_ramps(node, config, index, ramps or {}, ramp_samples, ramp_hold)
    for conn in config.connections:  # feedback inputs, now that every source exists
        if conn.index in topology.back_edges:
            runtimes[index[conn.dst]].edges.append(
                InputEdge(index[conn.src], db_to_lin(conn.gain_db), back=True)
            )
    for node in runtimes:
        node.feedback = node.id in topology.feedback_nodes
        node.direct = _direct_source(node)
        if node.sidechain_edges:
            node.sidechain_buf = np.zeros(
                (runtimes[node.sidechain_edges[0].src].channels_out, block), np.float32
            )
            if not isinstance(node.proc, TakesSidechain):
                raise GraphError(f"node {node.id!r} ({node.type_name}) has no side-chain input")
            node.proc.set_sidechain(node.sidechain_buf)
    _resolve_pre_taps(runtimes)
    if fuse:
        fuse_sandboxed_runs(runtimes)  # linear runs in one worker: one round trip per block
    sinks = [n.path_latency for n in runtimes if n.role == "sink"]
    return Plan(
        config=config,
        nodes=runtimes,
        index=index,
        sample_rate=config.sample_rate,
        block_size=block,
        total_latency=max(sinks, default=0),
        feedback=[i for i, n in enumerate(runtimes) if n.feedback],
        ramp_hold=ramp_hold,
        timing=timing,
    )


def _context(config: GraphConfig, node_id: str, total_frames: int | None) -> CheckContext:
    return CheckContext(
        sample_rate=config.sample_rate,
        block_size=config.block_size,
        base_dir=config.base_dir,
        node_id=node_id,
        total_frames=total_frames,
        node_options=config.nodes[node_id].options,
    )


def _create_node(
    config: GraphConfig,
    node_type: NodeType,
    ctx: CheckContext,
    n_in: int | None,
    channels_out: int,
    index: Mapping[str, int],
    inputs: list[ConnectionSpec],
    built: list[NodeRuntime],
    event_target: bool,
    reused: Processor | None = None,
    compensation: Mapping[int, int] | None = None,
    timing: Timing = REALTIME,
) -> NodeRuntime:
    node_id = ctx.node_id
    spec = config.nodes[node_id]
    block = config.block_size
    main = [c for c in inputs if c.port == "main"]
    is_source = node_type.role == "source"
    channels_in = 0 if is_source else (n_in if n_in is not None else channels_out)
    try:
        proc = reused if reused is not None else node_type.create(spec.params, ctx)
        if reused is None:
            if isinstance(proc, FollowsTiming):
                proc.set_timing(timing)
            proc.prepare(config.sample_rate, block, channels_out if is_source else channels_in)
    except (ValueError, OSError, RuntimeError) as err:
        raise GraphError(f"node {node_id!r} ({spec.type}): cannot prepare: {err}") from err
    path_in = max((_tap_latency(built[index[c.src]], c.tap) for c in main), default=0)
    try:  # before any line is sized by it: a hostile latency must not reach an allocation
        latency = _bounded_latency(proc.latency_samples, path_in, config.sample_rate, node_id)
    except LimitError:
        if reused is None:
            close_if_held(proc)  # its worker or connection goes with it
        raise
    node = NodeRuntime(
        id=node_id,
        type_name=spec.type,
        role=node_type.role,
        proc=proc,
        channels_in=channels_in,
        channels_out=channels_out if node_type.role != "sink" else 0,
        latency=latency,
        path_latency=path_in + latency,
        out_buf=np.zeros((channels_out if node_type.role != "sink" else 0, block), np.float32),
        in_buf=np.zeros((channels_in, block), np.float32),
        event_target=event_target,
        traits=node_type.traits,
        change_params=proc.CHANGE_PARAMS if isinstance(proc, RendersChanges) else frozenset(),
        bypass=bool(spec.options.get("bypass", False)),
        mute=bool(spec.options.get("mute", False)),
        fallback=str(spec.options.get("fallback", "bypass")),
        lanes=[
            Lane.from_envelope(param, points, config.sample_rate)
            for param, points in dict(spec.options.get("automation") or {}).items()
        ],
    )
    for conn in main:
        src = built[index[conn.src]]
        pre = conn.tap == "pre"
        edge = InputEdge(index[conn.src], db_to_lin(conn.gain_db), pre=pre)
        _compensate(
            edge,
            src,
            path_in - _tap_latency(src, conn.tap)
            if compensation is None
            else compensation.get(conn.index, 0),
        )
        node.edges.append(edge)
    for conn in inputs:
        if conn.port == "sidechain":
            node.sidechain_edges.append(InputEdge(index[conn.src], db_to_lin(conn.gain_db)))
    return node


def _apply_ramps(
    node: NodeRuntime,
    config: GraphConfig,
    index: Mapping[str, int],
    ramps: Mapping[int, tuple[float, float]],
    samples: int,
    hold: int,
) -> None:
    """Start the crossfade ramps of a node's main inputs (matched by source, in order)."""
    if not ramps or samples <= 0:
        return
    conns = [
        c for c in config.connections if c.index in ramps and c.dst == node.id and c.port == "main"
    ]
    for conn in conns:
        start, end = ramps[conn.index]
        for edge in node.edges:
            if edge.src == index[conn.src] and edge.pre == (conn.tap == "pre") and not edge.ramp:
                edge.gain, edge.target = start, end
                edge.step, edge.ramp, edge.hold = (end - start) / samples, samples, hold
                break


def _compensate(edge: InputEdge, src: NodeRuntime, samples: int) -> None:
    """Delay what ``edge`` carries by ``samples`` (a fresh, silent line; none for 0)."""
    edge.compensation = samples
    edge.pos = 0
    width = src.channels_in if edge.pre else src.channels_out
    edge.line = np.zeros((width, samples), np.float32) if samples else None


def _bounded_latency(latency: object, path_in: int, sample_rate: int, node_id: str) -> int:
    """A node's reported latency, checked with the path it ends, before any line is sized.

    Raises:
        LimitError: the latency or the path's is out of range (``aers_host._limits``).
    """
    own = check_latency(latency, sample_rate, node_id)
    check_latency(path_in + own, sample_rate, node_id, "path latency", MAX_PATH_LATENCY_SECONDS)
    return own


def _realign(
    runtimes: list[NodeRuntime],
    index: Mapping[str, int],
    forward_inputs: Mapping[str, list[ConnectionSpec]],
    sample_rate: int,
) -> None:
    """Recompute latency compensation when a processor's latency changed after it was read.

    Why: nodes sharing a worker (``per-plugin``/``shared``) start it when the graph build's
    worker scope exits, and native or LV2 code reports its latency only once instantiated
    there — after :func:`_create_node` read it. Nothing has run yet, so lines start silent.

    Raises:
        LimitError: a latency the worker reported is out of range, alone or along a path.
    """
    if all(n.proc.latency_samples == n.latency for n in runtimes):
        return
    for node in runtimes:
        main = [c for c in forward_inputs.get(node.id, []) if c.port == "main"]
        sources = [runtimes[index[c.src]] for c in main]
        pairs = zip(sources, main, strict=True)
        path_in = max((_tap_latency(s, c.tap) for s, c in pairs), default=0)
        node.latency = _bounded_latency(node.proc.latency_samples, path_in, sample_rate, node.id)
        node.path_latency = path_in + node.latency
        for edge, src, conn in zip(node.edges, sources, main, strict=False):
            _compensate(edge, src, path_in - _tap_latency(src, conn.tap))


def _tap_latency(src: NodeRuntime, tap: str) -> int:
    """Path latency of what a connection carries: before (pre) or after (post) ``src``."""
    return src.path_latency - src.latency if tap == "pre" else src.path_latency


def _resolve_pre_taps(nodes: list[NodeRuntime]) -> None:
    """A pre-fader send from a node that reads its upstream in place reads that upstream.

    Such a node never fills its own input buffer, but its input *is* the upstream output.
    """
    for node in nodes:
        for edge in node.edges:
            if edge.pre and nodes[edge.src].direct >= 0:
                edge.src, edge.pre = nodes[edge.src].direct, False


def _direct_source(node: NodeRuntime) -> int:
    """Read the upstream buffer in place when that changes nothing: one unity, aligned input."""
    if node.feedback or node.event_target or len(node.edges) != 1:
        return -1
    edge = node.edges[0]
    plain = edge.gain == 1.0 and edge.line is None and not (edge.back or edge.pre or edge.ramp)
    return edge.src if plain else -1


def describe(plan: Plan) -> list[dict[str, Any]]:
    """Per-node summary (order, type, channels, latency) for ``aers graph`` and reports."""
    return [
        {
            "order": i,
            "id": n.id,
            "type": n.type_name,
            "role": n.role,
            "channels_in": n.channels_in,
            "channels_out": n.channels_out,
            "latency_samples": n.latency,
            "path_latency_samples": n.path_latency,
            "feedback": n.feedback,
            "compensation": {
                plan.nodes[e.src].id: e.compensation for e in n.edges if e.compensation
            },
        }
        for i, n in enumerate(plan.nodes)
    ]
