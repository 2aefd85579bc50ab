"""Latency reporting, reset, and state round trips (a resumed render equals a continuous one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aers_host import ParamEvent
from aers_host.errors import PluginError
from aers_host.native import load_native_plugin

from .conftest import CTX, run_blocks, verified


def _noise(channels: int, frames: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(7).standard_normal((channels, frames))).astype(np.float32)


def test_latency_is_reported_and_real(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["probe_ok"]), {}, CTX)
    assert proc.latency_samples == 0  # unknown until prepared
    proc.prepare(48000, 100, 2)
    assert proc.latency_samples == 64
    x = np.zeros((2, 400), np.float32)
    x[:, 10] = 1.0
    y = run_blocks(proc, x, 100, [])
    assert np.flatnonzero(y[0]).tolist() == [10 + 64]


@pytest.mark.parametrize("name", ["native_reverb", "native_eq"])
def test_examples_report_zero_latency(libs: dict[str, Path], name: str):
    proc = load_native_plugin(verified(libs[name]), {}, CTX)
    proc.prepare(48000, 512, 2)
    assert proc.latency_samples == 0


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("native_reverb", [(900, "room_size", 0.9), (2100, "wet", 0.8)]),
        ("native_eq", [(900, "freq", 250.0), (2100, "saturation", 0.5)]),
    ],
)
def test_state_round_trip_continues_bit_exactly(libs: dict[str, Path], name, events):
    x = _noise(2, 4096)
    split = 1536
    continuous = load_native_plugin(verified(libs[name]), {}, CTX)
    continuous.prepare(48000, 256, 2)
    want = run_blocks(continuous, x, 256, events)

    first = load_native_plugin(verified(libs[name]), {}, CTX)
    first.prepare(48000, 256, 2)
    run_blocks(first, x[:, :split], 256, events)
    state = json.loads(json.dumps(first.get_state()))  # must survive a session's JSON
    resumed = load_native_plugin(verified(libs[name]), {}, CTX)
    resumed.prepare(48000, 256, 2)
    resumed.set_state(state)
    later = [(at - split, n, v) for at, n, v in events if at >= split]
    got = run_blocks(resumed, x[:, split:], 256, later, start=split)
    np.testing.assert_array_equal(got, want[:, split:])
    assert resumed.get_state()["params"] == continuous.get_state()["params"]


def test_state_given_before_prepare_is_applied_at_prepare(libs: dict[str, Path]):
    x = _noise(2, 2048)
    a = load_native_plugin(verified(libs["native_reverb"]), {"room_size": 0.9}, CTX)
    a.prepare(48000, 512, 2)
    run_blocks(a, x[:, :1024], 512, [])
    state = a.get_state()
    b = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    b.set_state(state)
    assert b.get_state()["blob"] == state["blob"]
    b.prepare(48000, 512, 2)
    np.testing.assert_array_equal(
        run_blocks(b, x[:, 1024:], 512, [], start=1024), run_blocks(a, x[:, 1024:], 512, [])
    )


def test_state_for_another_format_is_refused(libs: dict[str, Path]):
    a = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    a.prepare(48000, 512, 2)
    state = a.get_state()
    b = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    b.prepare(44100, 512, 2)
    with pytest.raises(PluginError, match="set_state\\(\\) refused"):
        b.set_state(state)
    with pytest.raises(PluginError, match="not base64"):
        b.set_state({"blob": "***"})
    with pytest.raises(PluginError, match="refused"):
        b.set_state({"blob": "AAAA"})


def test_params_only_state_is_applied_as_events(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["probe_ok"]), {}, CTX)
    proc.prepare(48000, 128, 1)
    proc.set_state({"params": {"gain": 0.25}})
    out = np.zeros((1, 128), np.float32)
    proc.process(np.ones((1, 128), np.float32), out, 0, ())
    assert out[0, 100] == pytest.approx(0.25)


def test_reset_clears_the_tail_but_keeps_params(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_reverb"]), {"wet": 1.0, "dry": 0.0}, CTX)
    proc.prepare(48000, 512, 2)
    run_blocks(proc, _noise(2, 2048), 512, [])
    proc.reset()
    silent = run_blocks(proc, np.zeros((2, 1024), np.float32), 512, [])
    assert not silent.any()
    assert proc.get_state()["params"]["wet"] == 1.0


def test_in_place_processing_is_safe(libs: dict[str, Path]):
    x = _noise(2, 512)
    a = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    b = load_native_plugin(verified(libs["native_reverb"]), {}, CTX)
    a.prepare(48000, 512, 2)
    b.prepare(48000, 512, 2)
    want = np.zeros_like(x)
    a.process(x, want, 0, ())
    buf = x.copy()
    b.process(buf, buf, 0, ())
    np.testing.assert_array_equal(buf, want)


def test_many_events_in_one_block_and_out_of_block_offsets(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["probe_ok"]), {}, CTX)
    proc.prepare(48000, 128, 1)
    events = [ParamEvent(i % 128, "gain", (i % 7) / 7) for i in range(500)]
    events.sort(key=lambda e: e.offset)
    out = np.zeros((1, 128), np.float32)
    proc.process(
        np.ones((1, 128), np.float32),
        out,
        0,
        [
            *events,
            ParamEvent(999, "gain", 2.0),
            ParamEvent(0, "unknown", 1.0),
            ParamEvent(127, "gain", float("nan")),
        ],
    )
    proc.process(np.ones((1, 128), np.float32), out, 128, ())
    assert out[0, 127] == pytest.approx(2.0)  # the offset-999 event applied at the block end
    assert proc.get_state()["params"]["gain"] == 2.0  # the NaN event was dropped


def test_process_before_prepare_is_a_bug(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_eq"]), {}, CTX)
    with pytest.raises(RuntimeError, match="before prepare"):
        proc.process(np.zeros((1, 8), np.float32), np.zeros((1, 8), np.float32), 0, ())


def test_bad_buffers_are_refused(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_eq"]), {}, CTX)
    proc.prepare(48000, 64, 2)
    with pytest.raises(ValueError, match="float32 with contiguous rows"):
        proc.process(np.zeros((2, 64)), np.zeros((2, 64), np.float32), 0, ())


def test_reprepare_and_close(libs: dict[str, Path]):
    proc = load_native_plugin(verified(libs["native_eq"]), {}, CTX)
    proc.prepare(48000, 64, 2)
    proc.prepare(44100, 128, 1)  # destroys the old instance, creates a new one
    out = np.zeros((1, 128), np.float32)
    proc.process(np.ones((1, 128), np.float32), out, 0, ())
    proc.close()
    proc.close()  # idempotent


@pytest.mark.security
@pytest.mark.parametrize(
    ("inp_shape", "out_shape"),
    [((3, 64), (3, 64)), ((2, 32), (2, 64)), ((2, 128), (2, 128)), ((1, 64), (2, 64))],
)
def test_buffers_that_would_overrun_native_code_are_refused(
    libs: dict[str, Path], inp_shape, out_shape
):
    proc = load_native_plugin(verified(libs["native_eq"]), {}, CTX)
    proc.prepare(48000, 64, 2)
    with pytest.raises(ValueError, match="prepared for 2 channels x 64 frames"):
        proc.process(np.zeros(inp_shape, np.float32), np.zeros(out_shape, np.float32), 0, ())


def test_plugins_skip_unknown_event_types_by_size(libs: dict[str, Path]):
    """A future event type (unknown to the plugin) is skipped; the next event still applies."""
    import ctypes

    from aers_host.native import _abi, open_library

    library = open_library(verified(libs["probe_ok"]))
    entry = library.entry
    handle = entry.create(48000.0, 16, 1)
    try:
        packed = (ctypes.c_uint8 * 64)()
        unknown = _abi.EventHeader.from_buffer(packed, 0)
        unknown.size, unknown.time, unknown.space_id, unknown.type = 32, 0, 7, 99
        known = _abi.EventParamValue.from_buffer(packed, 32)
        known.header.size = ctypes.sizeof(_abi.EventParamValue)
        known.header.time, known.param_id, known.value = 0, 0, 0.5
        inp = np.ones((1, 16), np.float32)
        out = np.zeros((1, 16), np.float32)
        in_rows = (ctypes.c_void_p * 1)(inp.ctypes.data)
        out_rows = (ctypes.c_void_p * 1)(out.ctypes.data)
        proc = _abi.Process(
            start=0,
            frames=16,
            in_channels=1,
            out_channels=1,
            event_count=2,
            in_=ctypes.addressof(in_rows),
            out=ctypes.addressof(out_rows),
            events=ctypes.addressof(packed),
        )
        for _ in range(5):  # the 64-sample delay line fills after 5 blocks of 16
            assert entry.process(handle, ctypes.byref(proc))
        assert out[0, -1] == pytest.approx(0.5)
    finally:
        entry.destroy(handle)
