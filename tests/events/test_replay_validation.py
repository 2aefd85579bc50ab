"""A replay log is checked like a scene: one located line per problem, exit 1, no traceback.

Every case starts from a real log (``aers events record``) with one line edited, then
replays it with ``aers render CONFIG --replay LOG``, as the acceptance tester did.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from aers_host.errors import ConfigError
from aers_host.events import read_event_log

CONFIG = """
    duration: 1.0
    routing: {footsteps: sfx}
    events:
      - {id: steps, category: footsteps, time: 0.1, gain_db: -6,
         source: {generator: footsteps, steps: 2}}
      - {id: click, category: marker, at: 4800, to: sfx, source: {generator: impulse}}
      - {id: tone, category: tone, at: 1000, duration: 0.2, to: sfx,
         source: {generator: tone, freq: 440}}
    nodes:
      sfx: {type: events, params: {channels: 2}}
      out: {type: output}
    connections:
      - {from: sfx, to: out}
"""

Run = Callable[..., Any]


def recorded(run_cli: Run, tmp_path: Path) -> tuple[Path, Path]:
    """A config and the log ``aers events record`` wrote for it (events in start order)."""
    config = tmp_path / "graph.yaml"
    config.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    log = tmp_path / "rec.jsonl"
    result = run_cli("events", "record", config, "--out", log, "--out-dir", tmp_path / "rec")
    assert result.code == 0, result.err
    return config, log


def edited(log: Path, line: int, **changes: Any) -> Path:
    """A copy of ``log`` with fields of one (1-based) line changed."""
    lines = log.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[line - 1])
    record.update(changes)
    lines[line - 1] = json.dumps(record)
    out = log.with_name("edited.jsonl")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def replay(run_cli: Run, config: Path, log: Path) -> Any:
    return run_cli("render", config, "--out-dir", config.parent / "o", "--replay", log)


def refused(result: Any, log: Path) -> list[str]:
    """The error lines of a refused replay; checks the exit code and the wording."""
    assert result.code == 1, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert "scene" not in result.err  # it is an event log
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert errors and all(f"{log}:" in line for line in errors), result.err
    return errors


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sample_rate": "abc"}, ':1: sample_rate: must be of type integer, got str "abc"'),
        ({"sample_rate": None}, ":1: sample_rate: must be of type integer, got NoneType null"),
        ({"sample_rate": 4000}, ":1: sample_rate: 4000 is too small: must be >= 8000"),
        ({"sample_rate": 96000}, ":1: sample_rate: log recorded at 96000 Hz"),
        ({"sample_rate": 44100}, ":1: sample_rate: log recorded at 44100 Hz"),
        ({"aers_event_log": 2}, ":1: aers_event_log: unsupported event log format 2"),
        ({"aers_event_log": True}, ":1: aers_event_log: unsupported event log format True"),
        ({"frames": -5}, ":1: frames: -5 is too small"),
        ({"frames": 10**13}, ":1: frames: 10000000000000 is too large"),
        ({"block_size": 0}, ":1: block_size: 0 is too small"),
        ({"config_sha256": 5}, ":1: config_sha256: must be of type"),
    ],
)
def test_bad_header_is_refused_at_line_1(
    run_cli: Run, tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    config, log = recorded(run_cli, tmp_path)
    bad = edited(log, 1, **changes)
    [error] = refused(replay(run_cli, config, bad), bad)
    assert expected in error
    assert not (tmp_path / "o" / "out.wav").exists()


def test_header_without_sample_rate_is_refused(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    lines = log.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    del header["sample_rate"]
    log.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n", encoding="utf-8")
    [error] = refused(replay(run_cli, config, log), log)
    assert ":1: <root>: missing required key 'sample_rate'" in error


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"at": -100}, ":2: at: -100 is less than the minimum of 0"),
        ({"at": 12.5}, ":2: at: 12.5 is not of type 'integer'"),
        ({"at": "soon"}, ":2: at: 'soon' is not of type 'integer'"),
        ({"frames": -5}, ":2: frames: -5 is too small"),
        ({"frames": 0}, ":2: frames: 0 is too small"),
        ({"frames": 99999999999}, ":2: frames: 99999999999 is too large"),
        ({"frames": 2.5}, ":2: frames: must be a whole number of samples"),
        ({"frames": "long"}, ':2: frames: must be a whole number of samples, got "long"'),
        ({"gain_db": 500}, ":2: gain_db: 500 is greater than the maximum of 24"),
        ({"pan": 50}, ":2: pan: 50 is greater than the maximum of 1"),
        ({"category": "9 lives"}, ":2: category: '9 lives' is not a word"),
        ({"to": "sxf"}, ":2: to: target node 'sxf' is not in"),
        ({"source": {"generator": "tone", "freq": 30000, "seed": 1}}, ":2: source.freq"),
        ({"source": {"generator": "thunder", "seed": 1}}, ":2: source.generator: unknown"),
        ({"source": {"file": "/no/such.wav"}}, ":2: source.file: file not found"),
        ({"duration": 0.5}, ":2: duration: unknown field"),
        ({"gian_db": 1}, ":2: gian_db: unknown field (did you mean 'gain_db'?)"),
        ({"status": "won"}, ':2: status: "won" is not supported'),
        ({"path": [{"node": "sfx", "in": -3, "out": 0}]}, ":2: path.0.in: -3 is too small"),
    ],
)
def test_bad_event_line_is_refused_with_the_scene_rules(
    run_cli: Run, tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    config, log = recorded(run_cli, tmp_path)
    bad = edited(log, 2, **changes)  # line 2: the tone (1000 ... 10600)
    errors = refused(replay(run_cli, config, bad), bad)
    assert any(expected in error for error in errors), errors
    assert not (tmp_path / "o" / "out.wav").exists()


def test_overflowing_start_is_refused(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    text = log.read_text(encoding="utf-8")
    assert '"at": 1000,' in text
    log.write_text(text.replace('"at": 1000,', '"at": 1e400,'), encoding="utf-8")
    [error] = refused(replay(run_cli, config, log), log)
    assert ":2: at: must be a finite number" in error


def test_every_problem_is_reported_at_once(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    bad = edited(edited(log, 2, gain_db=500, pan=50), 4, at=-1)
    errors = refused(replay(run_cli, config, bad), bad)
    assert [e.split(": ")[1] for e in errors] == [f"{bad}:2", f"{bad}:2", f"{bad}:4"]
    assert "gain_db" in errors[0] and "pan" in errors[1] and "at" in errors[2]


def test_duplicate_event_ids_are_refused(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    first = json.loads(log.read_text(encoding="utf-8").splitlines()[1])["id"]
    bad = edited(log, 3, id=first)
    [error] = refused(replay(run_cli, config, bad), bad)
    assert f":3: id: duplicate id {first!r} (first used on line 2)" in error


def test_a_log_from_another_config_is_refused(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace("gain_db: -6", "gain_db: -3"), encoding="utf-8"
    )
    [error] = refused(replay(run_cli, config, log), log)
    assert ":1: config_sha256: log recorded from another config" in error
    assert "aers events record" in error  # the hint says how to get a log that replays
    record = run_cli("events", "record", config, "--out", tmp_path / "x.jsonl", "--replay", log)
    assert record.code == 1 and "config_sha256" in record.err


def test_unreadable_logs_say_event_log(run_cli: Run, tmp_path: Path) -> None:
    config, _ = recorded(run_cli, tmp_path)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 64)
    [error] = refused(replay(run_cli, config, binary), binary)
    assert "cannot read event log: not UTF-8 text" in error and "codec" not in error
    missing = tmp_path / "missing.jsonl"
    [error] = refused(replay(run_cli, config, missing), missing)
    assert "cannot read event log" in error


def test_a_log_too_large_is_refused_unread(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, log = recorded(run_cli, tmp_path)
    monkeypatch.setattr("aers_host.events._scene.MAX_SCENE_BYTES", 100)
    [error] = refused(replay(run_cli, config, log), log)
    assert "event log is" in error and "over the" in error


def test_a_log_with_too_many_events_is_refused(run_cli: Run, tmp_path: Path) -> None:
    from aers_host.events._scene import MAX_SCENE_EVENTS

    config, log = recorded(run_cli, tmp_path)
    header = log.read_text(encoding="utf-8").splitlines()[0]
    log.write_text(header + "\n" + "{}\n" * (MAX_SCENE_EVENTS + 1), encoding="utf-8")
    [error] = refused(replay(run_cli, config, log), log)
    assert f":{MAX_SCENE_EVENTS + 2}: <root>: event log has more than the limit" in error


def test_valid_edits_still_replay(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    quieter = edited(log, 2, gain_db=-12.0, pan=-0.5)
    result = replay(run_cli, config, quieter)
    assert result.code == 0, result.err


def test_a_recorded_log_replays_bit_exactly_through_render(run_cli: Run, tmp_path: Path) -> None:
    config, log = recorded(run_cli, tmp_path)
    result = replay(run_cli, config, log)
    assert result.code == 0, result.err
    a, _ = sf.read(tmp_path / "rec" / "out.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "o" / "out.wav", dtype="float32")
    assert np.count_nonzero(a) > 0 and np.array_equal(a, b)
    again = tmp_path / "again.jsonl"
    assert run_cli("events", "record", config, "--out", again, "--replay", log).code == 0
    strip = ("replayed_from",)
    first, second = (
        [
            {k: v for k, v in json.loads(line).items() if k not in strip}
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
        for path in (log, again)
    )
    assert first == second  # the replay's own log is the same log


def test_read_event_log_checks_without_a_config(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    event = {"id": "a", "category": "fx", "at": -1, "source": {"generator": "impulse", "seed": 1}}
    log.write_text(
        json.dumps({"aers_event_log": 1, "sample_rate": 48000})
        + "\n\n"
        + json.dumps({**event, "to": "bus"})
        + "\n"
        + json.dumps({**event, "at": 0})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        read_event_log(log)
    problems = [(p.line, p.path, p.message) for p in info.value.problems]
    assert problems == [
        (3, "at", "-1 is less than the minimum of 0"),
        (4, "id", "duplicate id 'a'"),
        (4, "to", "is required (the node the event entered)"),
    ]
