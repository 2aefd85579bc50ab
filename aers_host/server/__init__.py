"""Live dashboard server: a paced engine runtime, a versioned WebSocket feed, REST and metrics.

See docs/feed.md for the message schema and docs/dashboard.md for ``aers serve``.
"""

from ._app import create_app
from ._feed import ClientQueue, FeedHub, gil_switch_interval
from ._messages import (
    DB_FLOOR,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    ProtocolError,
    parse_client_message,
)
from ._model import Ack, Control, Notice, Snapshot
from ._runtime import LiveRuntime
from ._solo import SoloRouter, solo_routing
from ._stats import live_summary, prometheus

__all__ = [
    "DB_FLOOR",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "Ack",
    "ClientQueue",
    "Control",
    "FeedHub",
    "LiveRuntime",
    "Notice",
    "ProtocolError",
    "Snapshot",
    "SoloRouter",
    "create_app",
    "gil_switch_interval",
    "live_summary",
    "parse_client_message",
    "prometheus",
    "solo_routing",
]
