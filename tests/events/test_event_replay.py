"""Event logs round-trip, refuse foreign logs, and place nodes at their latency offsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aers_host.dsp import onset_samples
from aers_host.errors import ConfigError
from aers_host.events import (
    Event,
    EventScheduler,
    generate_scene,
    parse_events,
    path_offsets,
    read_event_log,
    write_event_log,
)

SR = 48000


def scheduler(events: list[Event]) -> EventScheduler:
    sched = EventScheduler(events, SR, {"bus": 2})
    sched.prepare(512)
    return sched


def render(sched: EventScheduler, total: int) -> np.ndarray:
    out = np.zeros((2, total), np.float32)
    for start in range(0, total, 512):
        sched.mix_into("bus", out[:, start : start + 512], start)
    return out


def test_log_round_trip_replays_bit_exactly(tmp_path: Path) -> None:
    records = generate_scene("mixed", 8, seed=21, duration=3.0)
    original = scheduler(parse_events(records, SR, Path("."), default_target="bus"))
    log = write_event_log(
        tmp_path / "run.jsonl", original.log_entries(), sample_rate=SR, block_size=512
    )
    replayed = read_event_log(log, SR)
    assert [e.id for e in replayed.events] == [e.id for e in original.events]
    assert replayed.header["block_size"] == 512 and replayed.sample_rate == SR
    assert np.array_equal(render(scheduler(replayed.events), 4 * SR), render(original, 4 * SR))


def test_log_lines_carry_what_happened(tmp_path: Path) -> None:
    ev = Event("hit", "probe", 12345, {"generator": "impulse", "seed": 1}, to="bus", gain_db=-6)
    entries = scheduler([ev]).log_entries({"bus": [("bus", 0, 0), ("out", 48, 48)]})
    log = write_event_log(tmp_path / "run.jsonl", entries, sample_rate=SR)
    line = json.loads(log.read_text(encoding="utf-8").splitlines()[1])
    assert line["path"] == [
        {"node": "bus", "in": 12345, "out": 12345},
        {"node": "out", "in": 12393, "out": 12393},
    ]
    assert line["status"] == "played" and line["end"] == 12346
    assert line["peak_db"] == pytest.approx(-6 - 3.0103, abs=1e-3)  # -6 dB, centre pan -3 dB


def test_log_from_another_rate_is_refused(tmp_path: Path) -> None:
    log = write_event_log(tmp_path / "run.jsonl", [], sample_rate=44100)
    with pytest.raises(ConfigError, match="44100 Hz, config runs at 48000 Hz"):
        read_event_log(log, SR)


def test_a_scene_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "scene.jsonl"
    path.write_text(json.dumps({"id": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an AERS event log"):
        read_event_log(path)


def test_malformed_event_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(
        json.dumps({"aers_event_log": 1, "sample_rate": SR})
        + "\n"
        + json.dumps({"id": "x"})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        read_event_log(path)
    assert info.value.problems[0].line == 2


def test_path_offsets_follow_latency_and_compensation() -> None:
    # ev → lim (48) → bus ← dry;  bus → out.  With PDC the bus input is at 48 for both.
    edges = [("ev", "lim"), ("lim", "bus"), ("dry", "bus"), ("bus", "out")]
    steps = path_offsets(edges, {"lim": 48}, "ev")
    assert steps == [("ev", 0, 0), ("lim", 0, 48), ("bus", 48, 48), ("out", 48, 48)]
    assert path_offsets(edges, {"lim": 48}, "dry") == [
        ("dry", 0, 0),
        ("bus", 48, 48),
        ("out", 48, 48),
    ]


def test_path_offsets_survive_feedback_loops() -> None:
    edges = [("ev", "bus"), ("bus", "dly"), ("dly", "bus"), ("bus", "out")]
    steps = dict((n, (i, o)) for n, i, o in path_offsets(edges, {"dly": 4800}, "ev"))
    assert steps["bus"] == (0, 0) and steps["dly"] == (0, 4800) and steps["out"] == (0, 0)


def test_path_offsets_add_intended_delays_after_latency() -> None:
    # the chain: ev → lim (48 latency) → dly (100 samples, not latency) → out
    edges = [("ev", "lim"), ("lim", "dly"), ("dly", "out")]
    steps = path_offsets(edges, {"lim": 48}, "ev", delays={"dly": 100})
    assert steps == [("ev", 0, 0), ("lim", 0, 48), ("dly", 48, 148), ("out", 148, 148)]


def test_path_offsets_take_the_earliest_of_joining_paths() -> None:
    # ev → dly (300) → bus and ev → lim (48) → bus: the bus hears the limiter path first.
    edges = [("ev", "dly"), ("dly", "bus"), ("ev", "lim"), ("lim", "bus"), ("bus", "out")]
    steps = {n: (i, o) for n, i, o in path_offsets(edges, {"lim": 48}, "ev", delays={"dly": 300})}
    assert steps["dly"] == (0, 300) and steps["bus"] == (48, 48) and steps["out"] == (48, 48)


def test_a_pre_tap_carries_the_input_before_the_delay() -> None:
    steps = path_offsets(
        [("ev", "dly"), ("dly", "a")], {}, "ev", delays={"dly": 100}, pre_taps=[("dly", "b")]
    )
    assert dict((n, (i, o)) for n, i, o in steps) == {
        "ev": (0, 0),
        "dly": (0, 100),
        "a": (100, 100),
        "b": (0, 0),
    }


def test_only_a_fully_wet_delay_moves_the_onset() -> None:
    assert onset_samples({"samples": 100}, 48000) == 100  # mix defaults to 1
    assert onset_samples({"samples": 100, "mix": 1.0}, 48000) == 100
    # the dry share sounds at once, the echo later
    assert onset_samples({"samples": 100, "mix": 0.999}, 48000) == 0
    assert onset_samples({"ms": 10, "mix": 0.0}, 48000) == 0
    assert onset_samples({"ms": 10}, 48000) == 480
    assert onset_samples({}, 48000) == 0
