"""The ring protocol without a JACK server: a fake client whose callback the test calls.

JACK's side is simulated cycle by cycle (capture in, callback, playback out) and the
engine's side block by block, so the exact alignment and the underrun recovery are
checked deterministically: an input sample captured at cycle frame *t* must leave the
output at *t* + pre-roll, before and after the engine stalls.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from graphs import Registry

from aers_host import load_config
from aers_host.device import JackDevice, PlanBridge, attach_plan
from aers_host.device import _jack as jack_module
from aers_host.graph import Engine, build_plan

PERIOD = 256
GRAPH = """
version: 1
sample_rate: 48000
block_size: 256
nodes:
  mic: {type: input, params: {channels: 1}}
  g: {type: gain, params: {gain_db: 0}}
  main: {type: output}
connections:
  - {from: mic, to: g}
  - {from: g, to: main}
"""


class FakePort:
    def __init__(self, name: str) -> None:
        self.shortname = name
        self.buf = np.zeros(PERIOD, np.float32)

    def get_array(self) -> np.ndarray:
        return self.buf


class FakePorts(list[FakePort]):
    def register(self, name: str) -> FakePort:
        self.append(FakePort(name))
        return self[-1]


class FakeClient:
    """The slice of JACK-Client's ``Client`` that JackDevice uses."""

    name = "aers"
    samplerate = 48_000
    blocksize = PERIOD

    def __init__(self) -> None:
        self.inports, self.outports = FakePorts(), FakePorts()
        self.process: Any = None

    def set_process_callback(self, callback: Any) -> None:
        self.process = callback

    def set_xrun_callback(self, callback: Any) -> None:
        pass

    def set_shutdown_callback(self, callback: Any) -> None:
        pass

    def activate(self) -> None:
        pass


class NoLatency:
    def __init__(self, jack: Any) -> None:
        pass

    def on_latency(self, client: Any, callback: Any) -> None:
        pass


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: Registry) -> Any:
    monkeypatch.setattr(jack_module, "LatencyBinding", NoLatency)
    cfg_path = tmp_path / "g.yaml"
    cfg_path.write_text(GRAPH, encoding="utf-8")
    plan = build_plan(load_config(cfg_path, registry=registry), registry)
    client = FakeClient()
    device = JackDevice(SimpleNamespace(JackError=RuntimeError), client, periods=3)
    attach_plan(device, plan)
    device.start()
    yield SimpleNamespace(plan=plan, engine=Engine(plan), client=client, device=device,
                          bridge=PlanBridge(device))  # fmt: skip
    plan.close()


def play(rig: Any, signal: np.ndarray, stalled: range = range(0)) -> np.ndarray:
    """Run JACK cycles over ``signal``; the engine does no work during ``stalled`` cycles."""
    (mic,), (main,) = rig.client.inports, rig.client.outports
    heard = np.zeros_like(signal)
    for cycle in range(len(signal) // PERIOD):
        at = slice(cycle * PERIOD, (cycle + 1) * PERIOD)
        mic.buf[:] = signal[at]
        rig.client.process(PERIOD)
        heard[at] = main.buf
        while cycle not in stalled and rig.device.ready(PERIOD):
            rig.bridge.feed(rig.plan, PERIOD)
            rig.engine.process_block(PERIOD)
            rig.bridge.collect(rig.plan, PERIOD)
    return heard


def test_output_is_the_input_exactly_one_pre_roll_later(rig: Any) -> None:
    signal = np.linspace(0.01, 1.0, 40 * PERIOD, dtype=np.float32)
    heard = play(rig, signal)
    pre_roll = 3 * PERIOD
    assert rig.device.ring_latency == pre_roll
    np.testing.assert_array_equal(heard[:pre_roll], 0.0)
    np.testing.assert_array_equal(heard[pre_roll:], signal[:-pre_roll])
    assert rig.device.underruns == 0


def test_after_an_engine_stall_the_gap_is_silence_and_alignment_holds(rig: Any) -> None:
    signal = np.linspace(0.01, 1.0, 60 * PERIOD, dtype=np.float32)
    heard = play(rig, signal, stalled=range(10, 30))  # 20 cycles (107 ms) of no engine work
    pre_roll = 3 * PERIOD
    assert rig.device.underruns > 0 and rig.device.capture_overflows == 0
    silent = np.flatnonzero(heard[pre_roll:] == 0.0) + pre_roll
    assert silent.size == rig.device.underruns * PERIOD  # whole cycles of silence, no more
    played = np.flatnonzero(heard != 0.0)
    # every sample that was heard is the input exactly one pre-roll earlier
    np.testing.assert_array_equal(heard[played], signal[played - pre_roll])
    assert played[-1] == len(signal) - 1  # and it recovered to the end
