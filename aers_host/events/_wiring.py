"""Glue between a validated config, the planner and the scheduler (no engine changes needed).

The engine only calls ``EventScheduler.mix_into``; everything else happens here, before
and after a render:

* :func:`scheduler_for_config` parses the config's events (or a replayed log), works out
  how many channels each target's buffer has — an ``events`` node's output, any other
  node's input — from the same channel inference the planner uses, reads voice limits
  from node options (``max_voices``, ``steal``) and prepares the scheduler.
* :func:`log_entries_for_plan` turns the scheduler's voices into event-log records whose
  per-node samples include every latency and compensation delay of the plan, and the
  intended delay of nodes whose type declares one (``NodeTraits.onset_delay``: the
  ``delay``), which is not latency, so nothing compensates it.

Example:
    >>> sched = scheduler_for_config(cfg, registry)                    # doctest: +SKIP
    >>> result = render(cfg, registry, out_dir=out, events=sched,      # doctest: +SKIP
    ...                 event_targets=sched.targets())
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._nodetype import CheckContext, NodeType
from ._generators import EventGenerator
from ._hooks import default_generators
from ._model import Event
from ._nodes import EVENTS_NODE
from ._replay import path_offsets, read_event_log
from ._scene import events_from_config
from ._scheduler import EventScheduler, VoiceLimit

if TYPE_CHECKING:
    from ..config import GraphConfig
    from ..graph import Plan


def _sole_events_node(config: GraphConfig) -> str | None:
    """Events without ``to`` or a route go to the only ``events`` node, if there is one."""
    ids = [n for n, spec in config.nodes.items() if spec.type == EVENTS_NODE.name]
    return ids[0] if len(ids) == 1 else None


def _replayed(
    config: GraphConfig, replay: Path, generators: Mapping[str, EventGenerator]
) -> list[Event]:
    """The log's events, checked against this config (rate, config file, nodes)."""
    log = read_event_log(
        replay,
        config.sample_rate,
        config_sha256=_file_sha256(config.file),
        config_file=config.file,
        nodes=list(config.nodes),
        generators=generators,
    )
    return log.events


def _file_sha256(file: str) -> str | None:
    """SHA-256 of the config file, as ``aers events record`` writes it (None: no file)."""
    path = Path(file)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


def target_channels(
    config: GraphConfig, registry: Mapping[str, NodeType], targets: set[str]
) -> dict[str, int]:
    """Channels of the buffer each target receives events in (its output if a source)."""
    from .._channels import infer_channels
    from .._topology import Edge, loop_closers, plan_topology

    edges = [
        Edge(c.src, c.dst, c.index, c.port, getattr(c, "tap", "post")) for c in config.connections
    ]
    types = {n: registry[spec.type] for n, spec in config.nodes.items()}
    order = plan_topology(list(config.nodes), edges, loop_closers(types)).order

    def rule(node: str, n_in: int | None) -> int:
        return types[node].output_channels(config.nodes[node].params, n_in, _ctx(config, node))

    # The planner's own inference, so the buffers the engine hands us always match.
    channels_out, channels_in = infer_channels(order, edges, rule)
    return {
        node: channels_out[node]
        if types[node].role == "source"
        else channels_in.get(node, channels_out[node])
        for node in targets
    }


def _ctx(config: GraphConfig, node: str) -> CheckContext:
    return CheckContext(config.sample_rate, config.block_size, config.base_dir, node_id=node)


def voice_limits(config: GraphConfig) -> dict[str, VoiceLimit]:
    """``max_voices``/``steal`` node options as limits (nodes without them are unlimited)."""
    return {
        node: VoiceLimit(int(spec.options["max_voices"]), spec.options.get("steal", "oldest"))
        for node, spec in config.nodes.items()
        if spec.options.get("max_voices")
    }


def events_for_config(
    config: GraphConfig,
    *,
    replay: Path | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
) -> list[Event]:
    """The config's events (inline and ``scene:``), or the log's with ``replay``; parsed only.

    This is what ``aers validate`` checks: nothing is rendered.

    Raises:
        ConfigError: every invalid event, located in its file and line.
    """
    if generators is None:
        generators = default_generators()
    if replay is not None:
        return _replayed(config, replay, generators)
    data = config.data
    if not data.get("events") and not data.get("scene"):
        return []
    lines = [config.lines.get(f"events.{i}", 0) for i in range(len(data.get("events") or ()))]
    return events_from_config(
        data,
        config.sample_rate,
        config.base_dir,
        file=config.file,
        lines=lines,
        nodes=list(config.nodes),
        default_target=_sole_events_node(config),
        generators=generators,
        key_lines=config.lines,
    )


def scheduler_for_config(
    config: GraphConfig,
    registry: Mapping[str, NodeType],
    *,
    replay: Path | None = None,
    generators: Mapping[str, EventGenerator] | None = None,
) -> EventScheduler | None:
    """A prepared scheduler for the config's events, or the log's with ``replay``.

    Args:
        config: the validated config (its ``events``, ``scene``, ``routing`` and node
            options ``max_voices``/``steal`` are used).
        registry: node types, for the channel counts of the event targets.
        replay: an event log whose events replace the config's (bit-exact replay).
        generators: name → generator; default :func:`default_generators` (built-ins and
            trusted entry-point packages).

    Returns:
        None when there is nothing to play (no ``events``, no ``scene``, no replay).

    Raises:
        ConfigError: invalid events, or a log from another sample rate or graph.
        GraphError: an event's source cannot be rendered.
        AudioIOError: a file source cannot be read.
    """
    if generators is None:
        generators = default_generators()
    events = events_for_config(config, replay=replay, generators=generators)
    if not events:
        return None
    channels = target_channels(config, registry, {ev.to for ev in events})
    scheduler = EventScheduler(
        events, config.sample_rate, channels, voice_limits(config), generators=generators
    )
    scheduler.prepare(config.block_size)
    return scheduler


def log_entries_for_plan(
    scheduler: EventScheduler, plan: Plan, *, frames: int | None = None
) -> list[dict[str, Any]]:
    """Event-log records with per-node sample positions from the plan's latencies and delays.

    A node's input offset is its compensated arrival time (``path_latency - latency``,
    identical for all its inputs after delay compensation) minus the target's, plus the
    intended delay of the ``delay`` nodes on the way (:func:`delay_onsets`), which the
    planner does not compensate.

    Args:
        scheduler: the scheduler the render played.
        plan: the render's plan.
        frames: the render's end (exclusive); default: as far as the engine pulled the
            scheduler. Events starting at or after it are logged ``unplayed``.
    """
    main = [c for c in plan.config.connections if c.port == "main"]
    edges = [(c.src, c.dst) for c in main if c.tap != "pre"]
    pre = [(c.src, c.dst) for c in main if c.tap == "pre"]
    latency = {n.id: n.latency for n in plan.nodes}
    arrival = {n.id: n.path_latency - n.latency for n in plan.nodes}
    order = [n.id for n in plan.nodes]
    delays = delay_onsets(plan)
    paths = {
        t: path_offsets(edges, latency, t, arrival, order, delays=delays, pre_taps=pre)
        for t in scheduler.targets()
    }
    return scheduler.log_entries(paths, until=frames)


def delay_onsets(plan: Plan) -> dict[str, int]:
    """Node id → samples the node moves an event's first sample (onset) on purpose.

    What the node's type declares (``NodeTraits.onset_delay``; for a ``delay``, its length
    when fully wet, see ``aers_host.dsp.onset_samples``); nothing when the node is
    bypassed (its input passes as is).
    """
    onsets: dict[str, int] = {}
    for node in plan.nodes:
        onset_delay = node.traits.onset_delay
        if onset_delay is None or node.bypass:
            continue
        onset = onset_delay(plan.config.nodes[node.id].params, plan.sample_rate)
        if onset:
            onsets[node.id] = onset
    return onsets
