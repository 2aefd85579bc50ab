"""The ``input`` source: audio handed in block by block from Python (``Graph.process``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._nodetype import BuiltinNodeType, CheckContext
from .._processor import Buffer, ParamEvent


class InputSource:
    """[audio-thread] Copies the block given to :meth:`feed` into its output; silence if none."""

    latency_samples = 0

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self._pending: np.ndarray | None = None

    def feed(self, block: np.ndarray | None) -> None:
        """[main-thread, between blocks] Set the audio of the next block ((channels, frames))."""
        self._pending = block

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """Nothing to allocate: the caller owns the buffers."""

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Copy the fed block (then forget it)."""
        if self._pending is None:
            out.fill(0.0)
            return
        out[...] = self._pending[:, : out.shape[1]]
        self._pending = None

    def reset(self) -> None:
        """Drop a block not yet processed."""
        self._pending = None

    def get_state(self) -> dict[str, Any]:
        """An input keeps no state."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


def _channels(params: Mapping[str, Any], n_in: int | None, ctx: CheckContext) -> int:
    return int(params.get("channels", 2))


INPUT = BuiltinNodeType(
    name="input",
    role="source",
    summary="audio handed in from Python with Graph.process(block); silence otherwise",
    factory=lambda params, ctx: InputSource(int(params.get("channels", 2))),
    extra_properties={"channels": {"type": "integer", "minimum": 1, "maximum": 64, "default": 2}},
    channels=_channels,
)
