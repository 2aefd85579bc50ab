"""Real-time audio devices: a JACK client between a running graph and the sound card."""

from ._bridge import (
    JackRun,
    PlanBridge,
    UnderrunBlame,
    attach_plan,
)
from ._jack import (
    DEFAULT_PERIODS,
    MAX_PERIODS,
    JackDevice,
    import_jack,
    port_names,
    probe_jack,
)
from ._ring import FrameRing
from ._sched import RealtimeThread

__all__ = [
    "DEFAULT_PERIODS",
    "MAX_PERIODS",
    "FrameRing",
    "JackDevice",
    "JackRun",
    "PlanBridge",
    "RealtimeThread",
    "UnderrunBlame",
    "attach_plan",
    "import_jack",
    "port_names",
    "probe_jack",
]
