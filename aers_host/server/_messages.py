"""The feed's message schema, version 1 (docs/feed.md): builders and a strict parser.

Every message is a JSON object with ``"v": 1`` and a ``type``. Server → client:
``graph`` (on connect and after each edit), ``frame`` (at the feed rate), ``event``,
``ack``, ``edited``, ``error``. Client → server: ``bypass``, ``mute``, ``solo``
(``value``: true/false) and ``param`` (``param``: name, ``value``: number), each with an
optional ``req`` echoed back, and ``edit`` (``ops``: a live edit, see ``_edits``), which
leaves this parser after step 4 as an :class:`EditRequest`.

Parsing follows a fixed order and stops at the first problem, changing nothing:

1. size cap (:data:`MAX_MESSAGE_BYTES`, before decoding anything);
2. JSON parse; 3. a JSON object; 4. ``v`` equals :data:`PROTOCOL_VERSION`;
5. a known ``type``; 6. no unknown keys; 7. ``req`` shape;
8. a known node; 9. the action is allowed on that node (bypass needs matching channels);
10. value type; 11. a declared parameter; 12. the value within its declared range, then
    the node type's own checks (``NodeType.check``, what the config validator runs: a
    frequency below Nyquist...) on the node's params with the new value.

Every builder returns the message's declaration in ``_wire`` (one per message type).

Example:
    >>> err = ProtocolError("bad_json", "not JSON")
    >>> err.body()["code"]
    'bad_json'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._features import ReportsHealth, ReportsValues
from .._json import to_jsonable
from .._nodetype import CheckContext, NodeType, ParamIssue
from .._processor import ParamSpec
from ._model import Ack, Control, EditRequest, Notice, Snapshot
from ._wire import (
    PROTOCOL_VERSION,
    ControlAck,
    ErrorMessage,
    EventMessage,
    FlagMessage,
    FrameBody,
    GraphEdge,
    GraphMessage,
    GraphNode,
    NodeDescription,
    NodeFrame,
    NodeHealth,
    NodeLoudness,
    ParamDescription,
    ParamMessage,
    ParamsMessage,
    Req,
    TypeDescription,
    error_body,
    keys_of,
)

if TYPE_CHECKING:
    from ..graph import Plan
    from ._plans import PlanView
    from ._runtime import LiveRuntime

#: Largest client message accepted (UTF-8 bytes).
MAX_MESSAGE_BYTES = 4096
#: Levels below this are reported as this value (silence).
DB_FLOOR = -120.0
#: The loudest float32 level, dBFS: a level a meter computed as +inf (the square of a huge
#: but finite sample) reads as this, so a frame never carries Infinity.
DB_CEILING = round(20.0 * math.log10(float(np.finfo(np.float32).max)), 1)
FLAG_TYPES = ("bypass", "mute", "solo")
CLIENT_TYPES = (*FLAG_TYPES, "param")
#: The keys each client message may carry (their declarations in ``_wire``).
_KEYS = {**dict.fromkeys(FLAG_TYPES, keys_of(FlagMessage)), "param": keys_of(ParamMessage)}


class ProtocolError(Exception):
    """A client message refused; ``code`` is stable, ``message`` (and ``hint``) for people."""

    def __init__(self, code: str, message: str, req: Req = None, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.req = req
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def body(self) -> ErrorMessage:
        """The ``error`` answer: why the message was refused (nothing was changed).

        ``hint`` is present only when there is one (the config validator's, for node checks).
        """
        return error_body(self.code, self.message, self.req, hint=self.hint)


def dumps(message: Mapping[str, object]) -> str:
    """Compact JSON (no NaN/Infinity: the schema never carries them)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _db(values: np.ndarray) -> list[float]:
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        db = 20.0 * np.log10(np.maximum(values, 10.0 ** (DB_FLOOR / 20.0)))
    return [_level(float(x)) for x in db]


def _level(db: float) -> float:
    """``db`` rounded to 0.1 and kept finite: NaN reads as the floor, +inf as the ceiling."""
    return round(DB_FLOOR if math.isnan(db) else min(max(db, DB_FLOOR), DB_CEILING), 1)


def can_bypass(plan: Plan, index: int) -> bool:
    """Bypass copies input to output, so it needs a processor with matching channels."""
    node = plan.nodes[index]
    return node.role == "processor" and node.channels_in == node.channels_out and not node.feedback


def _layers(plan: Plan) -> list[int]:
    """Topological layer of each node: longest forward path from a source."""
    layer = [0] * len(plan.nodes)  # the plan's order is topological: inputs come first
    for i, node in enumerate(plan.nodes):
        ins = [e.src for e in node.edges if not e.back] + [e.src for e in node.sidechain_edges]
        layer[i] = 1 + max((layer[s] for s in ins), default=-1)
    return layer


def spec_info(spec: ParamSpec) -> ParamDescription:
    """One declared parameter as the feed describes it (without its running value)."""
    info: ParamDescription = {
        "name": spec.name,
        "min": spec.min,
        "max": spec.max,
        "default": spec.default,
        "unit": spec.unit,
        "doc": spec.doc,
    }
    if spec.choices:
        info["choices"] = [{"value": value, "label": label} for value, label in spec.choices]
    return info


def type_info(node_type: NodeType) -> TypeDescription:
    """A palette entry (``GET /api/types``): what a client needs to add a node of this type."""
    return {
        "name": node_type.name,
        "role": node_type.role,
        "summary": node_type.summary,
        "origin": node_type.origin,
        "sidechain": node_type.traits.sidechain,
        "params": [spec_info(s) for s in node_type.param_specs()],
        "schema": to_jsonable(node_type.params_schema()),
    }


def node_info(
    runtime: LiveRuntime, index: int, view: PlanView | None = None
) -> NodeDescription:
    """Static description of one node plus its current flags and parameter values.

    ``index`` is into ``view``'s plan (the running one when None): callers that describe
    several nodes take ``runtime.view`` once, so a live edit in between cannot mix plans.
    """
    view = view or runtime.view
    node = view.plan.nodes[index]
    values = view.param_values(node.id)
    bypass, mute, solo, audible = runtime.flags(index, view)
    spec = view.plan.config.nodes.get(node.id)
    return {
        "id": node.id,
        "type": node.type_name,
        "role": node.role,
        "channels_in": node.channels_in,
        "channels_out": node.channels_out,
        "meter_channels": view.meters.channels[index],
        "latency": node.latency,
        "path_latency": node.path_latency,
        "can_bypass": can_bypass(view.plan, index),
        "bypass": bypass,
        "mute": mute,
        "solo": solo,
        "audible": audible,
        "sidechain": node.traits.sidechain,
        "params": [{**spec_info(s), "value": values[s.name]} for s in view.specs[node.id].values()],
        # What the config says beside the numeric params (EQ bands, a remote chain, a
        # file path): changed only by edits, so the config is the running truth.
        "config": to_jsonable(dict(spec.params)) if spec is not None else {},
    }


def param_values(runtime: LiveRuntime) -> dict[str, dict[str, float]]:
    """[any-thread] The running value of every declared parameter, by node id."""
    view = runtime.view
    return {node.id: view.param_values(node.id) for node in view.plan.nodes}


def params_message(values: Mapping[str, Mapping[str, float]]) -> ParamsMessage:
    """``params``: running parameter values that changed (edits, automation, other clients)."""
    return {"v": PROTOCOL_VERSION, "type": "params", "nodes": values}


def graph_message(runtime: LiveRuntime, rate: float) -> GraphMessage:
    """The ``graph`` snapshot a client gets first: nodes, layers, edges, timing facts."""
    view = runtime.view
    plan = view.plan
    layers = _layers(plan)
    nodes: list[GraphNode] = [
        {**node_info(runtime, i, view), "layer": layers[i]} for i in range(len(plan.nodes))
    ]
    delays = _compensation(plan)
    edges: list[GraphEdge] = [
        {
            "from": c.src,
            "to": c.dst,
            "gain_db": c.gain_db,
            "port": c.port,
            "tap": c.tap,
            "feedback": plan.index[c.src] >= plan.index[c.dst],
            "delay": delays.get((c.src, c.dst, c.port), 0),
        }
        for c in plan.config.connections
    ]
    return {
        "v": PROTOCOL_VERSION,
        "type": "graph",
        "sample_rate": plan.sample_rate,
        "block_size": plan.block_size,
        "block_period_us": plan.block_size / plan.sample_rate * 1e6,
        "total_latency": plan.total_latency,
        "edits": len(runtime.live.journal),
        "loop_frames": runtime.loop_frames,
        "rate": rate,
        "db_floor": DB_FLOOR,
        "max_message_bytes": MAX_MESSAGE_BYTES,
        "nodes": nodes,
        "edges": edges,
        "scene": runtime.scene,
    }


def _compensation(plan: Plan) -> dict[tuple[str, str, str], int]:
    """Latency-compensation delay (samples) of each connection, by (from, to, port)."""
    delays = {}
    for node in plan.nodes:
        for port, edges in (("main", node.edges), ("sidechain", node.sidechain_edges)):
            for edge in edges:
                delays[(plan.nodes[edge.src].id, node.id, port)] = int(edge.compensation)
    return delays


def frame_body(runtime: LiveRuntime, snap: Snapshot) -> str:
    """A ``frame`` as JSON text *without* ``dropped`` (spliced in per client)."""
    period_us = runtime.plan.block_size / runtime.sample_rate * 1e6
    nodes: dict[str, NodeFrame] = {}
    runtimes = {n.id: n for n in runtime.plan.nodes}
    for i, node_id in enumerate(snap.ids):
        bypass, mute, solo, audible = snap.flags[i]
        node = runtimes.get(node_id)
        nodes[node_id] = {
            **_health(None if node is None else node.proc),
            "nonfinite_blocks": 0 if node is None else int(node.nonfinite_blocks),
            "peak_db": _db(snap.peak[i]),
            "rms_db": _db(snap.rms[i]),
            "time_us": round(float(snap.node_us_mean[i]), 2),
            "time_us_max": round(float(snap.node_us_max[i]), 2),
            "load": round(100.0 * float(snap.node_us_mean[i]) / period_us, 3),
            "bypass": bypass,
            "mute": mute,
            "solo": solo,
            "audible": audible,
            **_loudness(snap.loudness.get(i)),
        }
    frame: FrameBody = {
        "seq": snap.seq,
        "sample": snap.sample,
        "loop": snap.loop,
        "blocks": snap.blocks,
        "block_us": {
            "last": round(snap.block_us_last, 2),
            "mean": round(snap.block_us_mean, 2),
            "max": round(snap.block_us_max, 2),
        },
        "cpu": {"engine": round(snap.engine_cpu, 2), "process": round(snap.process_cpu, 2)},
        "xruns": snap.xruns,
        "events_in_flight": snap.in_flight,
        "nodes": nodes,
    }
    return dumps(frame)


def _loudness(reading: tuple[float | None, float | None, float] | None) -> NodeLoudness:
    """A sink's loudness fields (``lufs_m``, ``lufs_s``: null until their window is full)."""
    if reading is None:
        return {}
    momentary, short, true_peak = reading
    return {
        "lufs_m": None if momentary is None else _level(momentary),
        "lufs_s": None if short is None else _level(short),
        "true_peak_db": _level(true_peak),
    }


def _health(proc: object) -> NodeHealth:
    """Per-node counters a processor reports (docs/feed.md), empty when it reports none.

    Xruns and failure for every reporting node, plus fallback blocks and restarts (plugin
    nodes) or round trip and late blocks (remote nodes).
    """
    if not isinstance(proc, ReportsHealth):
        return {}
    report = proc.health()
    health: NodeHealth = {"node_xruns": report.xruns}
    if report.remote is None:
        health["fallback_blocks"] = report.fallback_blocks
        health["restarts"] = report.restarts
    if report.failed:
        health["failed"] = True
    if report.failure_reason:
        health["reason"] = report.failure_reason
    if report.remote is not None:
        health["rtt_us"] = round(report.remote["rtt_us"]["p50"], 1)
        health["late_blocks"] = report.remote["late_blocks"]
    return health


def frame_text(body: str, dropped: int) -> str:
    """The final ``frame`` text for one client: header, its drop count, then the body."""
    return f'{{"v":{PROTOCOL_VERSION},"type":"frame","dropped":{int(dropped)},{body[1:]}'


def ack_message(ack: Ack) -> ControlAck:
    """``ack``: the control took effect on the first sample of block ``sample``."""
    c = ack.control
    msg: ControlAck = {
        "v": PROTOCOL_VERSION,
        "type": "ack",
        "req": c.req,
        "action": c.action,
        "node": c.node,
        "value": c.value,
        "sample": ack.sample,
        "loop": ack.loop,
    }
    if c.action == "param":
        msg["param"] = c.param
    return msg


def event_message(notice: Notice) -> EventMessage:
    """``event``: a scene event starting or stopping at ``sample`` of pass ``loop``."""
    return {
        "v": PROTOCOL_VERSION,
        "type": "event",
        "kind": notice.kind,
        "id": notice.event,
        "category": notice.category,
        "to": notice.to,
        "sample": notice.sample,
        "loop": notice.loop,
    }


def parse_client_message(raw: str | bytes | None, runtime: LiveRuntime) -> Control | EditRequest:
    """Validate one client message (steps in the module docstring) into a :class:`Control`.

    An ``edit`` message of the right version is returned as an :class:`EditRequest`.

    Raises:
        ProtocolError: the first problem found; the runtime was not touched.
    """
    # Step 1: size cap before any decoding.
    if raw is None or isinstance(raw, bytes):
        raise ProtocolError("bad_message", "send JSON text frames, not binary")
    if len(raw) > MAX_MESSAGE_BYTES or len(raw.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise ProtocolError("too_large", f"message exceeds {MAX_MESSAGE_BYTES} bytes")
    # Steps 2-3: JSON object.
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object")
    version = data.get("v")
    if data.get("type") == "edit" and version == PROTOCOL_VERSION and not isinstance(version, bool):
        return EditRequest(data)
    return validate_control(data, runtime)


def parse_json(raw: str | bytes) -> Any:
    """Strict JSON (no ``NaN``/``Infinity``, nesting bounded by the interpreter).

    Raises:
        ProtocolError: ``bad_json``, why the text is not JSON.
    """
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:
        raise ProtocolError("bad_json", f"not valid JSON: {err}") from err


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def validate_control(data: dict[str, Any], runtime: LiveRuntime) -> Control:
    """Steps 4-12 on a decoded object (shared by the WebSocket and REST).

    Raises:
        ProtocolError: the first problem found.
    """
    req = data.get("req")
    req = req if _valid_req(req) else None
    if data.get("v") != PROTOCOL_VERSION or isinstance(data.get("v"), bool):
        raise ProtocolError("bad_version", f'expected "v": {PROTOCOL_VERSION}', req)
    kind = data.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}, edit",
            req,
        )
    extra = sorted(set(data) - _KEYS[kind])
    if extra:
        raise ProtocolError("bad_message", f"unknown keys: {', '.join(extra)}", req)
    if "req" in data and not _valid_req(data["req"]):
        raise ProtocolError("bad_message", "req must be an integer or a string of ≤ 64 chars")
    node_id = data.get("node")
    view = runtime.view
    if not isinstance(node_id, str) or node_id not in view.plan.index:
        raise ProtocolError("unknown_node", f"no node {node_id!r} in this graph", req)
    value = data.get("value")
    if kind in FLAG_TYPES:
        if kind == "bypass" and not can_bypass(view.plan, view.plan.index[node_id]):
            raise ProtocolError(
                "not_allowed",
                f"node {node_id!r} cannot be bypassed (not a processor "
                "with as many outputs as inputs)",
                req,
            )
        if not isinstance(value, bool):
            raise ProtocolError("bad_value", f"{kind} value must be true or false", req)
        return Control(kind, node_id, value, req=req)
    param = data.get("param")
    specs = view.specs[node_id]
    if not isinstance(param, str) or param not in specs:
        known = ", ".join(specs) or "none"
        raise ProtocolError(
            "unknown_param", f"node {node_id!r} has no parameter {param!r} (known: {known})", req
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("bad_value", "param value must be a number", req)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    problem = specs[param].check(number) if math.isfinite(number) else "value must be finite"
    if problem:
        raise ProtocolError("out_of_range", problem, req)
    issue = node_check(runtime, view, node_id, param, value)
    if issue is not None:
        raise ProtocolError("out_of_range", issue.message, req, issue.hint)
    return Control("param", node_id, number, param=param, req=req)


def node_check(
    runtime: LiveRuntime, view: PlanView, node_id: str, param: str, value: float
) -> ParamIssue | None:
    """The node type's own semantic checks on the node's params with ``param = value``.

    The same ``NodeType.check`` the config validator (and so every live edit) runs, with
    the same messages: a control can reach no value a config or a ``set_param`` edit
    could not. The params are the node's config params with the current values of its
    declared parameters (earlier controls) laid over them; only a problem the new value
    brings is reported (one the node had before is not this control's fault). None: fine,
    or nothing to check with (the outgoing copy of a replaced node, an unknown type).
    """
    spec = view.plan.config.nodes.get(node_id)
    registry: Mapping[str, Any] = getattr(runtime.live, "registry", None) or {}
    node_type = registry.get(spec.type) if spec is not None else None
    if spec is None or node_type is None:
        return None
    params = dict(spec.params)
    proc = view.plan.node(node_id).proc
    if isinstance(proc, ReportsValues):
        values = proc.values
        params.update({k: float(values[k]) for k in view.specs[node_id] if k in values})
    ctx = CheckContext(
        sample_rate=view.plan.sample_rate,
        block_size=view.plan.block_size,
        base_dir=view.plan.config.base_dir,
        node_id=node_id,
        node_options=dict(spec.options),
    )
    try:
        before = list(node_type.check(params, ctx))
        after = list(node_type.check({**params, param: value}, ctx))
    except Exception as err:  # a plugin's check that crashes refuses the value
        return ParamIssue(param, f"{spec.type} could not check {param}={value:g}: {err}")
    new = [issue for issue in after if issue not in before]
    return new[0] if new else None


def _valid_req(req: object) -> bool:
    if isinstance(req, bool):
        return False
    return (
        req is None
        or (isinstance(req, int) and abs(req) < 2**53)
        or (isinstance(req, str) and len(req) <= 64)
    )
