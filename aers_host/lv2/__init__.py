"""LV2 effects: adopt a bundle into a signed plugin folder, discover, and host them.

Hosting runs in a fenced worker by default (``isolation: per-instance``); lilv (for
reading Turtle) is only loaded by ``adopt`` and ``discover``.
"""

from ._loader import Lv2WorkerProcessor, load_lv2_plugin
from ._processor import ControlParam, Lv2Processor
from ._section import AtomPort, Lv2Section

__all__ = [
    "AtomPort",
    "ControlParam",
    "Lv2Processor",
    "Lv2Section",
    "Lv2WorkerProcessor",
    "load_lv2_plugin",
]
