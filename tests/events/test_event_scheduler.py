"""The scheduler: sample-exact starts at any block size, voice limits decided on the timeline."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from aers_host.errors import GraphError
from aers_host.events import Event, EventScheduler, VoiceLimit, generate_scene, parse_events

SR = 48000


def event(eid: str, at: int, source: dict[str, object], to: str = "bus", **kw: object) -> Event:
    return Event(eid, "fx", at, {"seed": 1, **source}, to=to, **kw)  # type: ignore[arg-type]


def run(sched: EventScheduler, target: str, channels: int, total: int, block: int) -> np.ndarray:
    """Drive mix_into the way the engine does: fresh zeroed buffer per block."""
    sched.reset()
    out = np.zeros((channels, total), np.float32)
    buf = np.zeros((channels, block), np.float32)
    for start in range(0, total, block):
        frames = min(block, total - start)
        view = buf[:, :frames]
        view.fill(0.0)
        sched.mix_into(target, view, start)
        out[:, start : start + frames] = view
    return out


def test_impulse_at_12345_starts_exactly_there_for_every_block_size() -> None:
    sched = EventScheduler([event("probe", 12345, {"generator": "impulse"})], SR, {"bus": 1})
    sched.prepare(4096)
    results = [run(sched, "bus", 1, 20000, block) for block in (512, 64, 4096)]
    for out in results:
        assert np.flatnonzero(out[0]).tolist() == [12345]
        assert out[0, 12345] == 1.0
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_a_whole_scene_is_bit_identical_across_block_sizes() -> None:
    records = generate_scene("mixed", 12, seed=3, duration=4.0)
    events = parse_events(records, SR, Path("."), default_target="bus")
    sched = EventScheduler(events, SR, {"bus": 2}, {"bus": VoiceLimit(3, "quietest")})
    sched.prepare(4096)
    total = 5 * SR
    reference = run(sched, "bus", 2, total, 512)
    assert np.count_nonzero(reference) > 0
    for block in (64, 97, 4096):
        assert np.array_equal(run(sched, "bus", 2, total, block), reference)


def tones(
    steal: str = "oldest", fade: int = 0, gains: tuple[float, float] = (0.0, 0.0)
) -> EventScheduler:
    a = event("a", 0, {"generator": "tone", "freq": 100.0}, duration=SR, gain_db=gains[0])
    b = event("b", 1000 + 37, {"generator": "tone", "freq": 300.0}, duration=SR, gain_db=gains[1])
    sched = EventScheduler([a, b], SR, {"bus": 1}, {"bus": VoiceLimit(1, steal)}, steal_fade=fade)  # type: ignore[arg-type]
    sched.prepare(64)
    return sched


def solo(eid: str, at: int, freq: float, gain_db: float = 0.0) -> np.ndarray:
    sched = EventScheduler(
        [event(eid, at, {"generator": "tone", "freq": freq}, duration=SR, gain_db=gain_db)],
        SR,
        {"bus": 1},
    )
    sched.prepare(64)
    return run(sched, "bus", 1, 2 * SR, 64)[0]


def test_mid_block_steal_cuts_the_old_voice_on_the_new_voice_sample() -> None:
    out = run(tones(), "bus", 1, 2 * SR, 64)[0]  # 1037 is 13 samples into block 16
    a, b = solo("a", 0, 100.0), solo("b", 1037, 300.0)
    assert np.array_equal(out[:1037], a[:1037])
    assert np.array_equal(out[1037:], b[1037:])
    entries = {e["id"]: e for e in tones().log_entries()}
    assert entries["a"]["status"] == "stolen" and entries["a"]["end"] == 1037
    assert entries["a"]["stolen_by"] == "b" and entries["b"]["status"] == "played"


def test_steal_fade_is_baked_and_block_invariant() -> None:
    sched = tones(fade=32)
    out64, out4096 = run(sched, "bus", 1, 2 * SR, 64)[0], run(sched, "bus", 1, 2 * SR, 4096)[0]
    assert np.array_equal(out64, out4096)
    a, b = solo("a", 0, 100.0), solo("b", 1037, 300.0)
    faded = out64[1037 : 1037 + 32] - b[1037 : 1037 + 32]
    ramp = 1.0 - np.arange(1, 33) / 33
    assert np.allclose(faded, a[1037 : 1037 + 32] * ramp, atol=1e-6)
    assert np.array_equal(out64[1037 + 32 :], b[1037 + 32 :])


def test_quietest_mode_drops_a_newcomer_quieter_than_every_voice() -> None:
    sched = tones("quietest", gains=(0.0, -20.0))
    out = run(sched, "bus", 1, 2 * SR, 512)[0]
    assert np.array_equal(out, solo("a", 0, 100.0))
    assert {e["id"]: e["status"] for e in sched.log_entries()} == {"a": "played", "b": "dropped"}


def test_quietest_mode_steals_the_quieter_old_voice() -> None:
    sched = tones("quietest", gains=(-20.0, 0.0))
    assert {e["id"]: e["status"] for e in sched.log_entries()} == {"a": "stolen", "b": "played"}


def test_voices_under_the_limit_all_play() -> None:
    events = [event(f"e{i}", i * 100, {"generator": "tone"}, duration=1000) for i in range(3)]
    sched = EventScheduler(events, SR, {"bus": 1}, {"bus": VoiceLimit(3)})
    sched.prepare(64)
    assert [e["status"] for e in sched.log_entries()] == ["played"] * 3
    assert [sched.in_flight(s) for s in (0, 150, 250, 1000, 1150, 1199, 1200, 5000)] == [
        1,
        2,
        3,
        2,
        1,
        1,
        0,
        0,
    ]


@pytest.mark.parametrize("pan", [-1.0, -0.3, 0.0, 0.7, 1.0])
def test_mono_event_pans_with_constant_power(pan: float) -> None:
    sched = EventScheduler(
        [event("p", 0, {"generator": "impulse"}, pan=pan, gain_db=-6.0)], SR, {"bus": 2}
    )
    sched.prepare(64)
    left, right = run(sched, "bus", 2, 64, 64)[:, 0].astype(np.float64)
    assert math.isclose(left**2 + right**2, 10 ** (-6 / 10), rel_tol=1e-6)
    assert math.isclose(math.atan2(right, left), (pan + 1) * math.pi / 4, abs_tol=1e-6)


def test_mono_target_ignores_pan() -> None:
    sched = EventScheduler([event("p", 3, {"generator": "impulse"}, pan=1.0)], SR, {"bus": 1})
    sched.prepare(8)
    assert run(sched, "bus", 1, 8, 8)[0, 3] == 1.0


def test_events_add_onto_what_is_in_the_buffer() -> None:
    sched = EventScheduler([event("p", 2, {"generator": "impulse"})], SR, {"bus": 1})
    sched.prepare(4)
    buf = np.full((1, 4), 0.25, np.float32)
    sched.mix_into("bus", buf, 0)
    sched.mix_into("other", buf, 0)  # not a target: nothing happens
    assert buf.tolist() == [[0.25, 0.25, 1.25, 0.25]]


def test_event_for_a_node_without_a_buffer_is_refused() -> None:
    with pytest.raises(GraphError, match="nowhere"):
        EventScheduler([event("p", 0, {"generator": "impulse"}, to="nowhere")], SR, {"bus": 1})


def test_mix_into_allocates_no_arrays_per_block() -> None:
    records = generate_scene("mixed", 10, seed=1, duration=2.0)
    events = parse_events(records, SR, Path("."), default_target="bus")
    sched = EventScheduler(events, SR, {"bus": 2})
    sched.prepare(512)
    buf = np.zeros((2, 512), np.float32)
    sched.mix_into("bus", buf, 0)  # warm caches
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for start in range(0, 3 * SR, 512):
        sched.mix_into("bus", buf, start)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak - base < buf.nbytes // 2  # views only: never a block-sized temporary


def test_seek_backwards_rescans() -> None:
    sched = EventScheduler([event("p", 10, {"generator": "impulse"})], SR, {"bus": 1})
    sched.prepare(16)
    first = run(sched, "bus", 1, 32, 16)
    buf = np.zeros((1, 16), np.float32)
    sched.mix_into("bus", buf, 0)  # rewind without reset()
    assert buf[0, 10] == 1.0 and np.array_equal(first[:, :16], buf)


def test_file_sources_are_read_resampled_and_panned(tmp_path: Path) -> None:
    import soundfile as sf

    mono = np.zeros(441, np.float32)
    mono[0] = 0.5
    sf.write(tmp_path / "click.wav", mono, 44100, subtype="FLOAT")
    stereo = np.stack([np.full(480, 0.25), np.full(480, -0.25)], axis=1).astype(np.float32)
    sf.write(tmp_path / "pad.wav", stereo, 48000, subtype="FLOAT")
    raw = [
        {"id": "c", "category": "fx", "at": 100, "pan": -1.0, "source": {"file": "click.wav"}},
        {"id": "p", "category": "fx", "at": 0, "source": {"file": "pad.wav"}},
    ]
    events = parse_events(raw, SR, tmp_path, default_target="bus")
    sched = EventScheduler(events, SR, {"bus": 2})
    sched.prepare(64)
    out = run(sched, "bus", 2, 1024, 64)
    pad = np.zeros((2, 1024), np.float32)
    pad[0, :480], pad[1, :480] = 0.25, -0.25  # stereo on stereo: unity balance at centre
    click = out - pad
    assert not click[:, :100].any() and not click[:, 580:].any()  # 441 → 480 frames at 48 kHz
    assert abs(click[1]).max() < 1e-6  # hard left
    assert 0.4 < click[0].max() <= 0.55  # resampled, still about 0.5


def test_events_starting_at_or_after_the_render_end_are_unplayed() -> None:
    events = [
        event("in", 100, {"generator": "impulse"}),
        event("last", 999, {"generator": "impulse"}),
        event("end", 1000, {"generator": "impulse"}),
        event("far", 4_800_000, {"generator": "impulse"}),
    ]
    sched = EventScheduler(events, SR, {"bus": 1})
    sched.prepare(64)
    # before any render the log describes the plan: nothing is cut off
    assert {e["status"] for e in sched.log_entries()} == {"played"}
    run(sched, "bus", 1, 1000, 64)  # the engine pulled samples [0, 1000)
    entries = {e["id"]: e for e in sched.log_entries({"bus": [("bus", 0, 0), ("out", 48, 48)]})}
    assert [entries[i]["status"] for i in ("in", "last", "end", "far")] == [
        "played",
        "played",
        "unplayed",
        "unplayed",
    ]
    assert entries["far"]["path"] == [] and entries["far"]["peak_db"] is None
    assert entries["last"]["path"][-1] == {"node": "out", "in": 1047, "out": 1047}
    # an explicit end wins over what was rendered
    assert [e["status"] for e in sched.log_entries(until=5_000_000)] == ["played"] * 4


def test_a_voice_stolen_only_after_the_render_end_played() -> None:
    sched = tones()  # "a" from 0, stolen by "b" at 1037
    statuses = {e["id"]: (e["status"], e["stolen_by"]) for e in sched.log_entries(until=1037)}
    assert statuses == {"a": ("played", None), "b": ("unplayed", None)}
    statuses = {e["id"]: (e["status"], e["stolen_by"]) for e in sched.log_entries(until=1038)}
    assert statuses == {"a": ("stolen", "b"), "b": ("played", None)}


def test_peak_is_of_what_sounded() -> None:
    sched = tones("quietest", gains=(0.0, -20.0))  # "b" is dropped: it never sounds
    entries = {e["id"]: e for e in sched.log_entries()}
    assert entries["b"]["status"] == "dropped" and entries["b"]["peak_db"] is None
    assert entries["a"]["peak_db"] is not None
