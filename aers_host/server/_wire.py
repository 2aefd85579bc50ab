"""Every message of the feed and the REST API, declared once (schema v1, docs/feed.md).

docs/feed.md is the description for people; these ``TypedDict`` declarations are the same
contract for mypy: every builder returns one, so a misspelt or missing key is a type
error, and tests check that every message the server sends and every example on that page
has exactly the declared keys. Fields marked ``NotRequired`` appear only when they apply
(a ``hint`` on an error, a sink's loudness in a frame). :func:`error_body` is the one
place the ``error`` body is built — for the WebSocket, every REST refusal and the access
guard alike.

Adding a field (within v1): declare it here, set it in the builder, describe it in
docs/feed.md. Removing one or changing its meaning needs a new :data:`PROTOCOL_VERSION`.

Example:
    >>> error_body("bad_json", "not valid JSON")["type"]
    'error'
"""

# No ``from __future__ import annotations`` here: TypedDict reads its keys' annotations at
# class creation, and postponed (string) ones hide ``NotRequired`` from
# ``__required_keys__``.
from collections.abc import Mapping
from typing import Final, Literal, NotRequired, get_type_hints

# typing's TypedDict before 3.12 lacks what pydantic needs to check messages against these.
from typing_extensions import TypedDict

from ..live import JournalEntry

#: Major version of the feed schema (every message's ``v``); bumped only on incompatible
#: changes.
PROTOCOL_VERSION: Final = 1

V = Literal[1]
#: A client's request id, echoed in the answer: an integer, a string of ≤ 64 characters.
Req = int | str | None
#: A JSON object whose keys the protocol does not fix (a node's config params, a schema).
JsonObject = dict[str, object]

# --- server → client: the graph -------------------------------------------------------


class ParamChoice(TypedDict):
    """A labelled value of an enumerated parameter (a filter type)."""

    value: float
    label: str


class ParamDescription(TypedDict):
    """A declared, automatable parameter: range, default, unit."""

    name: str
    min: float
    max: float
    default: float
    unit: str
    doc: str
    choices: NotRequired[list[ParamChoice]]


class ParamState(ParamDescription):
    """A declared parameter with the value the processor plays with now."""

    value: float


class NodeDescription(TypedDict):
    """One node: what it is, its flags and its running parameter values (``/api/nodes``)."""

    id: str
    type: str
    role: str
    channels_in: int
    channels_out: int
    meter_channels: int
    latency: int
    path_latency: int
    can_bypass: bool
    bypass: bool
    mute: bool
    solo: bool
    audible: bool
    sidechain: bool
    params: list[ParamState]
    config: JsonObject


class GraphNode(NodeDescription):
    """A node of the ``graph`` message: also its layer (for a left-to-right layout)."""

    layer: int


#: A connection of the ``graph`` message (``from`` is a keyword, hence this form).
GraphEdge = TypedDict(
    "GraphEdge",
    {
        "from": str,
        "to": str,
        "gain_db": float,
        "port": str,
        "tap": str,
        "feedback": bool,
        "delay": int,
    },
)


class SceneVoice(TypedDict):
    """A scene event after voice stealing: scene samples ``at`` (first) and ``end``."""

    id: str
    category: str
    to: str
    at: int
    end: int


class GraphMessage(TypedDict):
    """``graph``: the first message, and again after every live edit (``GET /api/graph``)."""

    v: V
    type: Literal["graph"]
    sample_rate: int
    block_size: int
    block_period_us: float
    total_latency: int
    edits: int
    loop_frames: int | None
    rate: float
    db_floor: float
    max_message_bytes: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    scene: list[SceneVoice]


# --- server → client: frames and notices ----------------------------------------------


class BlockTimes(TypedDict):
    """Block propagation time (µs) over a frame's window: newest, mean, max."""

    last: float
    mean: float
    max: float


class CpuLoad(TypedDict):
    """CPU, % of one core: the audio thread's and the whole process's."""

    engine: float
    process: float


class NodeHealth(TypedDict, total=False):
    """Counters a plugin or remote node reports (absent for nodes that have none)."""

    node_xruns: int
    fallback_blocks: int
    restarts: int
    failed: bool
    reason: str
    rtt_us: float
    late_blocks: int


class NodeLoudness(TypedDict, total=False):
    """An output node's loudness: all three fields, or none (other nodes).

    Momentary and short-term LUFS (None until their window is full), true peak (dBTP).
    """

    lufs_m: float | None
    lufs_s: float | None
    true_peak_db: float


class NodeFrame(NodeHealth, NodeLoudness):
    """One node in a ``frame``: levels, timing and flags over the frame's window."""

    nonfinite_blocks: int
    peak_db: list[float]
    rms_db: list[float]
    time_us: float
    time_us_max: float
    load: float
    bypass: bool
    mute: bool
    solo: bool
    audible: bool


class FrameBody(TypedDict):
    """A ``frame`` as serialised once for every client (without the per-client fields)."""

    seq: int
    sample: int
    loop: int
    blocks: int
    block_us: BlockTimes
    cpu: CpuLoad
    xruns: int
    events_in_flight: int
    nodes: dict[str, NodeFrame]


class FrameMessage(FrameBody):
    """``frame`` as a client receives it: the body with its own drop count spliced in."""

    v: V
    type: Literal["frame"]
    dropped: int


class ParamsMessage(TypedDict):
    """``params``: every running value of the nodes whose values changed."""

    v: V
    type: Literal["params"]
    nodes: Mapping[str, Mapping[str, float]]


class EventMessage(TypedDict):
    """``event``: a scene event starting or stopping at ``sample`` of pass ``loop``."""

    v: V
    type: Literal["event"]
    kind: Literal["start", "stop"]
    id: str
    category: str
    to: str
    sample: int
    loop: int


class ControlAck(TypedDict):
    """``ack`` of a control: the first sample processed with the change."""

    v: V
    type: Literal["ack"]
    req: Req
    action: Literal["bypass", "mute", "solo", "param"]
    node: str
    value: float | bool
    sample: int
    loop: int
    param: NotRequired[str]


class EditSummary(TypedDict):
    """Who made an edit and its operations, as the edit ``ack`` repeats them."""

    who: str
    ops: list[Mapping[str, object]]


class EditAck(TypedDict):
    """``ack`` of a live edit (also the answer of ``POST /api/edits``)."""

    v: V
    type: Literal["ack"]
    req: Req
    edit: EditSummary
    sample: int
    latency_before: int
    latency_after: int
    handover: dict[str, str]
    autosave_error: NotRequired[str]


class EditedMessage(JournalEntry):
    """``edited``: the journal entry of an edit that finished fading in."""

    v: V
    type: Literal["edited"]


class Problem(TypedDict):
    """One problem of a refused edit: where (dotted path), what, how to fix it."""

    path: str
    message: str
    hint: str


class ErrorMessage(TypedDict):
    """``error``: a refused client message or REST request (nothing changed)."""

    v: V
    type: Literal["error"]
    code: str
    message: str
    req: Req
    hint: NotRequired[str]
    problems: NotRequired[list[Problem]]


# --- client → server ---------------------------------------------------------------------


class FlagMessage(TypedDict):
    """``bypass``, ``mute`` or ``solo`` a node."""

    v: V
    type: Literal["bypass", "mute", "solo"]
    node: str
    value: bool
    req: NotRequired[Req]


class ParamMessage(TypedDict):
    """``param``: change a declared parameter at the next block."""

    v: V
    type: Literal["param"]
    node: str
    param: str
    value: float
    req: NotRequired[Req]


class EditMessage(TypedDict):
    """``edit``: operations applied to the running graph as one transaction."""

    v: V
    type: Literal["edit"]
    ops: list[Mapping[str, object]]
    req: NotRequired[Req]


# --- REST answers that are not feed messages ---------------------------------------------


class ParamChanged(TypedDict):
    """``POST /api/nodes/{id}/params``: the change and the sample it took effect on."""

    node: str
    param: str
    value: float
    sample: int
    loop: int


class JournalMessage(TypedDict):
    """``GET /api/edits``: every applied edit, oldest first."""

    v: V
    journal: list[JournalEntry]


class TypeDescription(TypedDict):
    """A palette entry of ``GET /api/types``: what a client needs to add such a node."""

    name: str
    role: str
    summary: str
    origin: str
    sidechain: bool
    params: list[ParamDescription]
    schema: JsonObject


class TypesMessage(TypedDict):
    """``GET /api/types``: every node type of the running registry."""

    v: V
    types: list[TypeDescription]


class ReloadResult(TypedDict):
    """What a plugin hot-reload did (docs/plugins.md, *Hot reload*)."""

    status: Literal["unchanged", "reloaded", "rolled_back", "rollback_failed"]
    name: str
    version: str
    previous: str
    nodes: list[str]
    sample: int
    handover: dict[str, str]
    reason: str


class ReloadMessage(ReloadResult):
    """``POST /api/plugins/{name}/reload``: the result, versioned."""

    v: V


def keys_of(message: type) -> frozenset[str]:
    """Every key ``message`` (a ``TypedDict``) may carry: the strict parsers' allowlist."""
    return frozenset(get_type_hints(message))


def error_body(
    code: str,
    message: str,
    req: Req = None,
    *,
    hint: str = "",
    problems: list[Problem] | None = None,
) -> ErrorMessage:
    """The ``error`` body: why a client message or request was refused.

    Args:
        code: stable, machine-readable reason (the table in docs/feed.md).
        message: for people; names what was refused and why.
        req: the request id to echo (None when it could not be read, and over REST).
        hint: how to fix it, when there is one (present in the body only then).
        problems: every problem of a refused edit (present only for edits).
    """
    body: ErrorMessage = {
        "v": PROTOCOL_VERSION,
        "type": "error",
        "code": code,
        "message": message,
        "req": req,
    }
    if hint:
        body["hint"] = hint
    if problems is not None:
        body["problems"] = problems
    return body
