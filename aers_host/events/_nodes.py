"""The ``events`` source node and the ``duck`` side-chain processor.

``events`` outputs silence; the engine adds the scheduler's voices targeted at the node
into its output after ``process`` — so a scene routed to an ``events`` node plays from it.

``duck`` lowers its main input by ``depth_db`` while its side-chain (connections with
``port: sidechain``) is above ``threshold_db`` — dialogue ducking ambience. The detector,
hold counter and gain smoother run per sample in a numba kernel whose state survives
block boundaries, so the result is identical for every block size.

Example:
    >>> import numpy as np
    >>> d = Duck(depth_db=12.0); d.prepare(48000, 64, 1)
    >>> d.set_sidechain(np.ones((1, 64), np.float32))
    >>> out = np.zeros((1, 64), np.float32)
    >>> d.process(np.ones((1, 64), np.float32), out, 0, ())
    >>> float(out[0, -1]) < 1.0
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .._features import TakesSidechain
from .._jit import lazy_njit
from .._nodetype import BuiltinNodeType, CheckContext, NodeTraits
from .._processor import Buffer, ParamEvent, ParamSpec, Processor, ProcessorBase


class EventsSource(ProcessorBase):
    """Silence; the scheduler's voices are added to this node's output by the engine."""

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Write zeros."""
        out.fill(0.0)


@lazy_njit(cache=True, nogil=True)
def _duck_kernel(  # pragma: no cover - compiled
    inp: Buffer, out: Buffer, sc: Buffer, state: np.ndarray, lowest: np.ndarray, thr: float,
    floor: float, g_att: float, g_rel: float, e_rel: float, hold_n: float,
) -> None:
    env, gain, hold = state[0], state[1], state[2]
    low = lowest[0]
    for i in range(out.shape[1]):
        level = 0.0
        for c in range(sc.shape[0]):
            level = max(level, abs(sc[c, i]))
        env = level if level > env else level + e_rel * (env - level)
        keyed = env > thr
        if keyed:
            hold = hold_n
        elif hold > 0:
            hold -= 1
        target = floor if keyed or hold > 0 else 1.0
        coef = g_att if target < gain else g_rel
        gain = target + coef * (gain - target)
        low = min(low, gain)
        for c in range(out.shape[0]):
            out[c, i] = inp[c, i] * gain
    state[0], state[1], state[2] = env, gain, hold
    lowest[0] = low


def _one_pole(ms: float, sample_rate: int) -> float:
    """Coefficient of a one-pole smoother reaching 63 % in ``ms`` milliseconds."""
    return math.exp(-1.0 / max(ms * 1e-3 * sample_rate, 1e-9))


class Duck(ProcessorBase, TakesSidechain):
    """Side-chain ducker: main input × gain, gain falls by ``depth_db`` while keyed."""

    PARAMS: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("depth_db", 12.0, 0.0, 80.0, "dB", "how far the main input is ducked"),
        ParamSpec("threshold_db", -40.0, -100.0, 0.0, "dBFS", "side-chain level that keys"),
        ParamSpec("attack_ms", 10.0, 0.1, 1000.0, "ms", "time to duck"),
        ParamSpec("release_ms", 250.0, 1.0, 10000.0, "ms", "time to recover"),
        ParamSpec("hold_ms", 50.0, 0.0, 5000.0, "ms", "keep ducking after the key drops"),
    )

    def __init__(self, **values: float) -> None:
        super().__init__(**values)
        self._sc: Buffer | None = None
        self._block_start = 0
        self._state = np.zeros(3, np.float64)
        self._state[1] = 1.0
        #: [audio-thread] Smallest gain applied since a meter last set it back to 1.0.
        self.min_gain = np.ones(1, np.float64)
        self._coef = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)

    def set_sidechain(self, buf: Buffer) -> None:
        """[main-thread & !active] The ``(channels, max_block)`` buffer the engine fills."""
        self._sc = buf

    def _allocate(self) -> None:
        if self._sc is None:  # no side-chain connected: never keyed
            self._sc = np.zeros((1, self.max_block), np.float32)

    def _on_param(self, name: str) -> None:
        v, sr = self.values, self.sample_rate
        self._coef = (
            10.0 ** (v["threshold_db"] / 20.0),
            10.0 ** (-v["depth_db"] / 20.0),
            _one_pole(v["attack_ms"], sr),
            _one_pole(v["release_ms"], sr),
            _one_pole(20.0, sr),  # detector release: smooths syllable gaps, not the hold
            float(round(v["hold_ms"] * 1e-3 * sr)),
        )

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Remember the block start so spans index the side-chain."""
        self._block_start = start
        super().process(inp, out, start, events)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Duck a span with the matching side-chain slice."""
        assert self._sc is not None
        offset = start - self._block_start
        sc = self._sc[:, offset : offset + out.shape[1]]
        _duck_kernel(inp, out, sc, self._state, self.min_gain, *self._coef)

    def reset(self) -> None:
        """[main-thread] Forget the envelope: unducked, no hold."""
        self._state[:] = (0.0, 1.0, 0.0)

    def get_state(self) -> dict[str, Any]:
        """Params plus the detector/gain state, so a resumed session continues seamlessly."""
        return {**super().get_state(), "dsp": [float(x) for x in self._state]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        super().set_state(state)
        if "dsp" in state:
            self._state[:] = [float(x) for x in state["dsp"]]


def _events_channels(params: Mapping[str, Any], _inp: int | None, _ctx: CheckContext) -> int:
    return int(params.get("channels", 2))


def _make_events(_params: Mapping[str, Any], _ctx: CheckContext) -> Processor:
    return EventsSource()


def _make_duck(params: Mapping[str, Any], _ctx: CheckContext) -> Processor:
    return Duck(**{name: float(value) for name, value in params.items()})


def _warm() -> None:
    """Compile the ducker's kernel for whole and split blocks, keyed by a side-chain."""
    duck = Duck()
    duck.set_sidechain(np.ones((1, 16), np.float32))
    duck.prepare(48000, 16, 2)
    inp, out = np.ones((2, 16), np.float32), np.zeros((2, 16), np.float32)
    duck.process(inp, out, 0, ())
    duck.process(inp, out, 16, [ParamEvent(8, "depth_db", 6.0)])


EVENTS_NODE = BuiltinNodeType(
    name="events",
    role="source",
    summary="plays the scene events routed to it (silence otherwise)",
    factory=_make_events,
    extra_properties={"channels": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}},
    channels=_events_channels,
    traits=NodeTraits(linear=True, metered=True),
)

DUCK_NODE = BuiltinNodeType(
    name="duck",
    role="processor",
    summary="side-chain ducker: connections with `port: sidechain` key it",
    factory=_make_duck,
    specs=Duck.PARAMS,
    traits=NodeTraits(
        nonlinear_reason="gain keyed by its side-chain", metered=True, sidechain=True, warm=_warm
    ),
)
