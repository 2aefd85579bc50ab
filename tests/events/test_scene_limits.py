"""Scene limits: oversized files refused unread, runaway event counts refused before parsing.

Also the fast schema check that keeps a scene at the limit quick to validate: it must
agree with jsonschema on every event it decides.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aers_host.errors import ConfigError
from aers_host.events import BUILTIN_GENERATORS, events_from_config, load_scene
from aers_host.events import _model as model
from aers_host.events import _scene as scene_mod
from aers_host.events._scene import (
    MAX_SCENE_BYTES,
    MAX_SCENE_EVENTS,
    read_jsonl,
)

TINY = '{{"id": "e{0}", "category": "fx", "at": {0}, "to": "bus", "source": {{"generator": "impulse"}}}}\n'


def tiny_scene(path: Path, count: int, header: str = "") -> Path:
    """``count`` one-line impulse events (100 000 of them in well under a second)."""
    with path.open("w", encoding="utf-8") as f:
        f.write(header)
        f.writelines(TINY.format(i) for i in range(count))
    return path


def tiny(i: int) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(TINY.format(i))
    return record


def sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def refused(call: Callable[[], object]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call()
    return info.value


# --- size --------------------------------------------------------------------------------


def test_limits_are_sane() -> None:
    assert MAX_SCENE_BYTES == 64 * 2**20
    assert MAX_SCENE_EVENTS == 100_000


def test_oversized_scene_file_is_refused_from_stat_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = sparse(tmp_path / "huge.jsonl", 100 * 1024 * 1024)

    def no_reading(*_: object, **__: object) -> str:
        raise AssertionError("an oversized scene must not be read")

    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    err = refused(lambda: load_scene(scene, 48000))
    [problem] = err.problems
    assert (problem.file, problem.line, problem.path) == (str(scene), 0, "")
    assert problem.message == "scene is 104.9 MB, over the 64 MiB limit"
    assert "split" in problem.hint
    assert str(err) == f"{scene}: <root>: scene is 104.9 MB, over the 64 MiB limit ({problem.hint})"
    assert "\n" not in str(err)


def test_scene_at_the_size_limit_is_read(tmp_path: Path) -> None:
    scene = tmp_path / "edge.jsonl"
    scene.write_text(TINY.format(0) + " " * (MAX_SCENE_BYTES - len(TINY.format(0))))
    assert scene.stat().st_size == MAX_SCENE_BYTES
    assert [e.id for e in load_scene(scene, 48000)] == ["e0"]


def test_a_device_that_outruns_stat_is_cut_off_at_the_limit() -> None:
    zeros = Path("/dev/zero")
    if not zeros.exists():
        pytest.skip("no /dev/zero")
    assert zeros.stat().st_size == 0  # stat says empty; reading would never end
    [problem] = refused(lambda: load_scene(zeros, 48000)).problems
    assert problem.message == "scene is over the 64 MiB limit"


def test_event_logs_share_the_size_limit(tmp_path: Path) -> None:
    from aers_host.events import read_event_log

    log = sparse(tmp_path / "huge.log.jsonl", MAX_SCENE_BYTES + 1)
    assert "over the 64 MiB limit" in str(refused(lambda: read_event_log(log)))


def test_config_scene_over_the_size_limit_keeps_inline_problems(tmp_path: Path) -> None:
    sparse(tmp_path / "huge.jsonl", 100 * 1024 * 1024)
    bad_inline = {**tiny(0), "gain_db": 99}
    err = refused(
        lambda: events_from_config(
            {"events": [bad_inline], "scene": "huge.jsonl"}, 48000, tmp_path, file="c.yaml"
        )
    )
    assert [(p.file, p.path) for p in err.problems] == [
        ("c.yaml", "events.0.gain_db"),
        (str(tmp_path / "huge.jsonl"), ""),
    ]
    assert "over the 64 MiB limit" in err.problems[1].message


def test_cli_validate_refuses_an_oversized_scene(
    run_cli: Callable[..., Any], tmp_path: Path, aers_home: Path
) -> None:
    sparse(tmp_path / "scene.jsonl", 100 * 1024 * 1024)
    config = tmp_path / "graph.yaml"
    config.write_text(
        "scene: scene.jsonl\nduration: 1\n"
        "nodes:\n  bus: {type: events}\n  out: {type: output}\n"
        "connections:\n  - {from: bus, to: out}\n",
        encoding="utf-8",
    )
    result = run_cli("validate", config)
    assert result.code == 1
    [line] = result.out.strip().splitlines()
    assert line.startswith(
        f"{tmp_path / 'scene.jsonl'}: <root>: scene is 104.9 MB, over the 64 MiB"
    )


# --- count -------------------------------------------------------------------------------


def test_scene_at_the_event_limit_is_accepted_and_one_more_is_refused(tmp_path: Path) -> None:
    header = "# a comment and a blank line do not count\n\n"
    scene = tiny_scene(tmp_path / "scene.jsonl", MAX_SCENE_EVENTS, header)
    events = load_scene(scene, 48000)
    assert len(events) == MAX_SCENE_EVENTS
    assert events[-1].id == f"e{MAX_SCENE_EVENTS - 1}"

    with scene.open("a", encoding="utf-8") as f:
        f.write(TINY.format(MAX_SCENE_EVENTS))
    err = refused(lambda: load_scene(scene, 48000))
    [problem] = err.problems
    assert (problem.file, problem.line, problem.path) == (
        str(scene),
        MAX_SCENE_EVENTS + 3,  # the 100 001st event's own line
        "events.100000",
    )
    assert problem.message == "scene has more than the limit of 100,000 events"
    assert str(err) == (
        f"{scene}:{MAX_SCENE_EVENTS + 3}: events.100000: scene has more than the limit of "
        "100,000 events (split it into several scene files, one `scene:` per config)"
    )


def test_reading_stops_at_the_first_line_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene_mod, "MAX_SCENE_EVENTS", 2)
    scene = tmp_path / "scene.jsonl"
    # The fourth line is not even JSON: reading stopped at the third, so it is not reported.
    scene.write_text(TINY.format(0) + "{oops\n" + TINY.format(2) + "{oops\n", encoding="utf-8")
    err = refused(lambda: load_scene(scene, 48000))
    assert [(p.line, p.path, p.message.split(":")[0]) for p in err.problems] == [
        (2, "", "not valid JSON"),
        (3, "events.2", "scene has more than the limit of 2 events"),
    ]
    clean = tiny_scene(tmp_path / "clean.jsonl", 3)
    assert len(read_jsonl(clean)[0]) == 3  # the default (event logs): the size limit only


def test_config_scene_over_the_event_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_scene(tmp_path / "scene.jsonl", MAX_SCENE_EVENTS + 1)
    monkeypatch.setattr(scene_mod, "parse_events", None)  # parsing would be a TypeError
    err = refused(lambda: events_from_config({"scene": "scene.jsonl"}, 48000, tmp_path))
    [problem] = err.problems
    assert (problem.line, problem.path) == (MAX_SCENE_EVENTS + 1, "events.100000")
    assert "more than the limit of 100,000 events" in problem.message


def test_inline_events_over_the_limit_are_refused_before_parsing(tmp_path: Path) -> None:
    # Empty dicts: parsing them would report `id is required` 100 001 times.
    raw: list[dict[str, Any]] = [{} for _ in range(MAX_SCENE_EVENTS + 1)]
    lines = [10 + i for i in range(len(raw))]
    err = refused(
        lambda: events_from_config({"events": raw}, 48000, tmp_path, file="c.json", lines=lines)
    )
    [problem] = err.problems
    assert str(problem) == (
        f"c.json:{10 + MAX_SCENE_EVENTS}: events.100000: `events` has more than the limit of "
        "100,000 events (split them across several configs)"
    )


def test_inline_events_and_scene_together_share_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene_mod, "MAX_SCENE_EVENTS", 4)
    (tmp_path / "s.jsonl").write_text(TINY.format(1) + TINY.format(2), encoding="utf-8")
    config: dict[str, Any] = {"events": [tiny(3), tiny(4)], "scene": "s.jsonl"}
    assert len(events_from_config(config, 48000, tmp_path)) == 4
    config["events"].append(tiny(5))
    err = refused(lambda: events_from_config(config, 48000, tmp_path, file="c.yaml"))
    assert [str(p) for p in err.problems] == [
        "c.yaml: scene: `events` and `scene` hold 5 events together, more than the limit of 4 "
        "(move some of them to another config)"
    ]


# --- reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_lines_are_split_like_splitlines_a_chunk_at_a_time(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scene_mod, "_CHUNK_CHARS", chunk)
    text = "a\r\nb\n\n\rc\x0cd\u2028e\r\n\r\nf\n\ng\r"
    got = list(scene_mod._numbered_lines(text))
    assert got == list(enumerate(text.splitlines(), start=1))
    assert list(scene_mod._numbered_lines("")) == []


def test_a_line_nested_too_deeply_is_a_located_problem(tmp_path: Path) -> None:
    scene = tmp_path / "deep.jsonl"
    scene.write_text(TINY.format(0) + "[" * 200_000 + "\n", encoding="utf-8")
    [problem] = refused(lambda: load_scene(scene, 48000)).problems
    assert (problem.line, problem.message) == (2, "line nests too deeply")


# --- the compiled schema check ---------------------------------------------------------------

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 3.0, 2.5, 1e9, -1e9, "", "x", "1abc", "a b", "ok\n",
    [], {}, [1], {"generator": "impulse"}, "concrete",
]  # fmt: skip


def sample_events() -> Iterator[dict[str, Any]]:
    """A valid event per generator (every parameter given) and a file event."""
    for name, gen in BUILTIN_GENERATORS.items():
        source: dict[str, Any] = {"generator": name, "seed": 3}
        source.update({s.name: s.default for s in gen.specs})
        source.update({k: v[0] for k, v in gen.choices.items()})
        yield {
            "id": f"ev-{name}",
            "category": "fx",
            "time": 0.5,
            "duration": 1.0,
            "gain_db": -3,
            "pan": 0.25,
            "to": "bus",
            "source": source,
        }
    yield {"id": "f", "category": "fx", "at": 5, "source": {"file": "hit.wav"}}


def mutations(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield event
    for key in [*event, "time", "at", "unknown"]:
        without = copy.deepcopy(event)
        without.pop(key, None)
        yield without
        for value in ODD_VALUES:
            yield {**copy.deepcopy(event), key: value}
    for key in [*event["source"], "seed", "generator", "file", "steps", "unknown"]:
        without = copy.deepcopy(event)
        without["source"].pop(key, None)
        yield without
        for value in ODD_VALUES:
            changed = copy.deepcopy(event)
            changed["source"][key] = value
            yield changed


def test_the_compiled_check_never_accepts_what_jsonschema_refuses() -> None:
    """A compiled "valid" skips jsonschema, so it must never be wrong; a compiled "invalid"
    only sends the event to jsonschema, which has the last word (fastjsonschema's patterns
    are stricter about a trailing newline than Python's ``re.search``)."""
    checked = agreed = valid = 0
    for base in sample_events():
        for raw in mutations(base):
            fast, full = model._surely_valid(raw), model._validator().is_valid(raw)
            assert full or not fast, raw
            checked += 1
            agreed += fast == full
            valid += fast
    assert checked > 2000 and valid > 100 and agreed > 0.99 * checked
