"""Live dashboard server: a paced engine runtime, a versioned WebSocket feed, REST and metrics.

See docs/feed.md for the message schema and docs/dashboard.md for ``aers serve``.
"""

from ._app import create_app
from ._autosave import Autosaver
from ._feed import gil_switch_interval
from ._messages import MAX_MESSAGE_BYTES, ProtocolError, parse_client_message
from ._model import Control
from ._record import Recorder
from ._runtime import LiveRuntime
from ._stats import live_summary
from ._wire import PROTOCOL_VERSION

__all__ = [
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "Autosaver",
    "Control",
    "LiveRuntime",
    "ProtocolError",
    "Recorder",
    "create_app",
    "gil_switch_interval",
    "live_summary",
    "parse_client_message",
]
