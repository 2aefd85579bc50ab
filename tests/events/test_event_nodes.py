"""The ``events`` source and the ``duck`` side-chain processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aers_host import ParamEvent, default_registry
from aers_host._nodetype import CheckContext
from aers_host.events import DUCK_NODE, EVENTS_NODE, Duck, EventsSource

SR = 48000
CTX = CheckContext(SR, 512, Path("."))


def duck_run(sc: np.ndarray, main: np.ndarray, block: int, **params: float) -> np.ndarray:
    """Drive a Duck like the engine: the side-chain buffer is refilled before each process."""
    duck = Duck(**params)
    side = np.zeros((sc.shape[0], block), np.float32)
    duck.set_sidechain(side)
    duck.prepare(SR, block, main.shape[0])
    out = np.zeros_like(main)
    for start in range(0, main.shape[1], block):
        n = min(block, main.shape[1] - start)
        side[:, :n] = sc[:, start : start + n]
        duck.process(main[:, start : start + n], out[:, start : start + n], start, ())
    return out


def keyed_signal() -> tuple[np.ndarray, np.ndarray]:
    """Ambience = constant 0.5; dialogue key on from 0.5 s to 1.0 s."""
    n = 2 * SR
    main = np.full((2, n), 0.5, np.float32)
    sc = np.zeros((1, n), np.float32)
    sc[0, SR // 2 : SR] = 0.3
    return sc, main


def test_duck_lowers_the_main_input_by_depth_while_keyed_then_recovers() -> None:
    sc, main = keyed_signal()
    out = duck_run(sc, main, 512, depth_db=12.0, attack_ms=5.0, release_ms=50.0, hold_ms=0.0)
    assert np.allclose(out[:, : SR // 2], 0.5)  # unkeyed: untouched
    ducked = out[0, int(0.9 * SR)]
    assert 20 * np.log10(ducked / 0.5) == pytest.approx(-12.0, abs=0.05)
    assert out[0, -1] == pytest.approx(0.5, abs=1e-3)  # released long before the end
    assert np.array_equal(out[0], out[1])  # one gain for all channels


def test_duck_is_block_size_invariant() -> None:
    sc, main = keyed_signal()
    ref = duck_run(sc, main, 512, hold_ms=100.0)
    for block in (64, 4096, 333):
        assert np.array_equal(duck_run(sc, main, block, hold_ms=100.0), ref)


def test_hold_keeps_ducking_after_the_key_stops() -> None:
    sc, main = keyed_signal()
    held = duck_run(sc, main, 512, hold_ms=200.0, release_ms=10.0)
    free = duck_run(sc, main, 512, hold_ms=0.0, release_ms=10.0)
    probe = SR + int(0.15 * SR)  # 150 ms after the key ends
    assert held[0, probe] < 0.2 < free[0, probe]


def test_key_below_threshold_does_not_duck() -> None:
    sc, main = keyed_signal()
    out = duck_run(sc * 1e-4, main, 512, threshold_db=-40.0)
    assert np.allclose(out, 0.5)


def test_duck_without_sidechain_passes_through() -> None:
    duck = Duck()
    duck.prepare(SR, 64, 1)
    inp = np.ones((1, 64), np.float32)
    out = np.zeros_like(inp)
    duck.process(inp, out, 0, [ParamEvent(10, "depth_db", 30.0)])
    assert np.array_equal(out, inp)


def test_duck_state_round_trips_for_sessions() -> None:
    _, main = keyed_signal()
    duck = Duck()
    side = np.zeros((1, 512), np.float32)
    duck.set_sidechain(side)
    duck.prepare(SR, 512, 2)
    out = np.zeros((2, 512), np.float32)
    side[:] = 1.0
    duck.process(main[:, :512], out, 0, ())
    twin = Duck()
    twin.set_sidechain(side)
    twin.prepare(SR, 512, 2)
    twin.set_state(duck.get_state())
    a, b = np.zeros_like(out), np.zeros_like(out)
    duck.process(main[:, :512], a, 512, ())
    twin.process(main[:, :512], b, 512, ())
    assert np.array_equal(a, b)


def test_events_source_outputs_silence_with_its_channel_count() -> None:
    proc = EVENTS_NODE.create({"channels": 3}, CTX)
    assert isinstance(proc, EventsSource)
    proc.prepare(SR, 16, 3)
    out = np.ones((3, 16), np.float32)
    proc.process(np.zeros((0, 16), np.float32), out, 0, ())
    assert not out.any()
    assert EVENTS_NODE.output_channels({"channels": 3}, None, CTX) == 3
    assert EVENTS_NODE.output_channels({}, None, CTX) == 2


def test_node_types_are_registered_as_builtins() -> None:
    registry = default_registry(entry_points=False, store=False)
    assert registry["events"] is EVENTS_NODE and registry["duck"] is DUCK_NODE
    assert DUCK_NODE.params_schema()["properties"]["depth_db"]["maximum"] == 80.0
