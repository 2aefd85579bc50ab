"""Shared helpers for the DSP tests: block-wise rendering through the Processor interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from aers_host import ParamEvent, Processor

Render = Callable[..., np.ndarray]


def render_blocks(
    proc: Processor,
    x: np.ndarray,
    block: int,
    out_channels: int | None = None,
    events: Sequence[ParamEvent] = (),
    start: int = 0,
) -> np.ndarray:
    """Run ``x`` (channels, frames) through a prepared ``proc`` in blocks of ``block``.

    ``events`` carry absolute sample positions in ``offset``; each is delivered in the block
    that contains it, with a block-relative offset — what the engine does.
    """
    frames = x.shape[1]
    out = np.zeros((out_channels or x.shape[0], frames), np.float32)
    for s in range(0, frames, block):
        e = min(s + block, frames)
        local = [ParamEvent(ev.offset - s, ev.param, ev.value) for ev in events
                 if s <= ev.offset < e]
        proc.process(
            np.ascontiguousarray(x[:, s:e]), out[:, s:e], start + s, local
        )
    return out


@pytest.fixture
def render() -> Render:
    return render_blocks


@pytest.fixture
def node_types() -> dict[str, object]:
    from aers_host import default_registry

    return dict(default_registry(entry_points=False, store=False))
