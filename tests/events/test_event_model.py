"""Event parsing: time → samples once, every bad field located by path and line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from aers_host.errors import ConfigError
from aers_host.events import (
    derived_seed,
    event_schema,
    events_from_config,
    load_scene,
    parse_events,
)
from aers_host.events._model import FAST_CHECK_FROM, MAX_EVENT_FRAMES
from aers_host.events._schema import SCHEMA_PATH, schema_text


def ev(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "e1",
        "category": "fx",
        "at": 0,
        "to": "bus",
        "source": {"generator": "impulse"},
    }
    base.update(fields)
    return base


def problems(raw: list[dict[str, object]], **kw: object) -> list[tuple[int, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_events(raw, 48000, Path("."), **kw)  # type: ignore[arg-type]
    return [(p.line, p.path, p.message) for p in info.value.problems]


def without_at(**fields: object) -> dict[str, object]:
    return {k: v for k, v in ev(**fields).items() if k != "at"}


def test_time_in_seconds_becomes_samples_once() -> None:
    a, b = parse_events([without_at(id="a", time=0.2572), ev(id="b", at=12345)], 48000, Path("."))
    assert a.at == round(0.2572 * 48000) == 12346
    assert b.at == 12345
    assert isinstance(a.at, int)


def test_duration_becomes_frames_and_defaults_fill_in() -> None:
    [e] = parse_events([ev(duration=0.5, gain_db=-6, pan=0.25)], 44100, Path("."))
    assert e.duration == 22050
    assert (e.gain_db, e.pan, e.to) == (-6.0, 0.25, "bus")


def test_missing_seed_is_derived_from_the_id_stably() -> None:
    [e] = parse_events([ev(id="step-1")], 48000, Path("."))
    assert e.source["seed"] == derived_seed("step-1")
    [again] = parse_events([ev(id="step-1")], 48000, Path("."))
    assert again.source == e.source


def test_explicit_seed_is_kept() -> None:
    [e] = parse_events([ev(source={"generator": "footsteps", "seed": 7})], 48000, Path("."))
    assert e.source["seed"] == 7


def test_routing_by_category_and_default_target() -> None:
    raw = [
        {k: v for k, v in ev(id=i, category=c).items() if k != "to"}
        for i, c in (("a", "dialogue"), ("b", "ambience"))
    ]  # no `to`
    a, b = parse_events(raw, 48000, Path("."), {"dialogue": "dlg"}, default_target="ev")
    assert (a.to, b.to) == ("dlg", "ev")


def test_unrouted_event_is_an_error_with_a_hint() -> None:
    raw = [{k: v for k, v in ev(category="foley").items() if k != "to"}]
    [(_line, path, message)] = problems(raw)
    assert path == "events.0.to" and "foley" in message


def test_errors_name_field_path_and_line() -> None:
    raw = [
        ev(id="ok"),
        ev(id="bad-pan", pan=3),
        without_at(id="no-start"),
        ev(id="typo", source={"generator": "footsteps", "cadense_hz": 2}),
        ev(id="both", time=1.0),
        ev(id="unknown-gen", source={"generator": "toen"}),
        ev(id="tone-no-dur", source={"generator": "tone"}),
        ev(id="ok"),
    ]
    found = problems(raw, file="cfg.yaml", lines=[10, 11, 12, 13, 14, 15, 16, 17])
    by_path = {path: (line, message) for line, path, message in found}
    assert by_path["events.1.pan"][0] == 11
    assert "maximum" in by_path["events.1.pan"][1]
    assert by_path["events.2"] == (12, "needs `at` or `time`")
    assert by_path["events.3.source.cadense_hz"][0] == 13
    assert by_path["events.4"][1] == "give either `at` or `time`, not both"
    assert "unknown generator 'toen'" in by_path["events.5.source.generator"][1]
    assert by_path["events.6.duration"][0] == 16
    assert by_path["events.7.id"] == (17, "duplicate id 'ok'")


def test_did_you_mean_for_unknown_fields_and_nodes() -> None:
    with pytest.raises(ConfigError) as info:
        parse_events([ev(gian_db=-3)], 48000, Path("."))
    assert "events.0.gian_db: unknown field (did you mean 'gain_db'?)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_events([ev(to="buss")], 48000, Path("."), nodes={"bus", "out"})
    assert "events.0.to: target node 'buss' does not exist (did you mean 'bus'?)" in str(info.value)


def test_tone_above_nyquist_is_refused() -> None:
    [(_, path, message)] = problems([ev(duration=1, source={"generator": "tone", "freq": 24000})])
    assert path == "events.0.source.freq"
    assert "Nyquist" in message


def test_file_source_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "hit.wav").write_bytes(b"")
    [e] = parse_events([ev(source={"file": "hit.wav"})], 48000, tmp_path)
    assert e.source["file"] == str((tmp_path / "hit.wav").resolve())
    [(_, path, message)] = problems([ev(source={"file": "missing.wav"})])
    assert path == "events.0.source.file" and "not found" in message


def test_scene_file_errors_carry_jsonl_line_numbers(tmp_path: Path) -> None:
    scene = tmp_path / "scene.jsonl"
    scene.write_text(
        "# a comment\n"
        + json.dumps(ev(id="a"))
        + "\n\n"
        + json.dumps(ev(id="b", gain_db=99))
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_scene(scene, 48000)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.path) == (str(scene), 4, "events.1.gain_db")


def test_scene_file_bad_json_line(tmp_path: Path) -> None:
    scene = tmp_path / "scene.jsonl"
    scene.write_text(json.dumps(ev()) + "\n{not json\n[1]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scene(scene, 48000)
    assert [(p.line, p.message.split(":")[0]) for p in info.value.problems] == [
        (2, "not valid JSON"),
        (3, "each line must be a JSON object"),
    ]


def test_config_events_and_scene_combine_with_unique_ids(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text(json.dumps(ev(id="x")) + "\n", encoding="utf-8")
    both = events_from_config({"events": [ev(id="y")], "scene": "s.jsonl"}, 48000, tmp_path)
    assert [e.id for e in both] == ["y", "x"]
    with pytest.raises(ConfigError, match="used twice"):
        events_from_config({"events": [ev(id="x")], "scene": "s.jsonl"}, 48000, tmp_path)


def test_schema_file_is_generated_from_the_generators() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    schema = event_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "id",
        "category",
        "at",
        "time",
        "duration",
        "gain_db",
        "pan",
        "source",
        "to",
    }


def test_an_event_too_long_to_build_is_refused_where_it_is_written() -> None:
    # A day-long event passed validation, then made render allocate 31 GiB and crash.
    limit_s = MAX_EVENT_FRAMES / 48000
    [ok] = parse_events([ev(duration=limit_s)], 48000, Path("."))
    assert ok.duration == MAX_EVENT_FRAMES
    with pytest.raises(ConfigError) as info:
        parse_events([ev(duration=86400)], 48000, Path("."))
    (problem,) = info.value.problems
    assert problem.path == "events.0.duration" and "over the limit" in problem.message
    assert "split it" in problem.hint


def test_long_and_short_lists_word_the_same_problems() -> None:
    """Long lists ask the compiled check first (FAST_CHECK_FROM), short ones only jsonschema:
    the same bad events must read the same either way, and good ones pass either way."""
    bad = [ev(id="b1", at=-1), ev(id="b2", tempo=3), without_at(id="b3")]
    good = [ev(id=f"g{k}") for k in range(FAST_CHECK_FROM)]
    short = problems(bad)
    long = problems(good + bad)
    shifted = [
        (line, path.replace(f"events.{FAST_CHECK_FROM + k}", f"events.{k}"), message)
        for k, (line, path, message) in enumerate(long)
    ]
    assert len(short) == 3 and shifted == short
    assert len(parse_events(good, 48000, Path("."))) == FAST_CHECK_FROM
