"""Live dashboard server: a paced engine runtime, a versioned WebSocket feed, REST and metrics.

See docs/feed.md for the message schema and docs/dashboard.md for ``aers serve``.
"""

from ._app import create_app
from ._autosave import Autosaver
from ._edits import EditRefused, apply_edit, edit_error
from ._feed import ClientQueue, FeedHub, gil_switch_interval
from ._messages import DB_FLOOR, MAX_MESSAGE_BYTES, ProtocolError, parse_client_message
from ._model import Ack, Control, EditRequest, Notice, Snapshot
from ._plans import PlanView
from ._record import Recorder
from ._reload import PROBATION_BLOCKS, ReloadRefused, reload_plugin
from ._runtime import LiveRuntime
from ._solo import SoloRouter, solo_routing
from ._stats import live_summary, prometheus
from ._wire import PROTOCOL_VERSION

__all__ = [
    "DB_FLOOR",
    "MAX_MESSAGE_BYTES",
    "PROBATION_BLOCKS",
    "PROTOCOL_VERSION",
    "Ack",
    "Autosaver",
    "ClientQueue",
    "Control",
    "EditRefused",
    "EditRequest",
    "FeedHub",
    "LiveRuntime",
    "Notice",
    "PlanView",
    "ProtocolError",
    "Recorder",
    "ReloadRefused",
    "Snapshot",
    "SoloRouter",
    "apply_edit",
    "create_app",
    "edit_error",
    "gil_switch_interval",
    "live_summary",
    "parse_client_message",
    "prometheus",
    "reload_plugin",
    "solo_routing",
]
