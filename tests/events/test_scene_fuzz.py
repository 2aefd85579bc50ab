"""Fuzz: scenes (JSONL) and event logs are read or refused in lines, never a traceback.

Each line is drawn from the scene event fields (``id``, ``category``, ``at``/``time``,
``duration``/``frames``, ``gain_db``, ``pan``, ``source``, ``to``) with values of every
JSON type and size, sources from the real generators; logs get a header that is valid,
damaged or missing. Reading must return events or raise ``ConfigError`` (the CLI's exit
1), and may not allocate more than a small bound: reading sizes nothing by an event's
``duration`` or ``frames`` (rendering does, under ``MAX_EVENT_FRAMES``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzzing import EDGE_NUMBERS, JSON_VALUES, allocation_peak, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from aers_host.errors import ConfigError
from aers_host.events import BUILTIN_GENERATORS, load_scene, read_event_log

RATE = 48_000
NODES = {"bus", "out"}
#: Reading a few lines of JSON: far below this, whatever numbers they hold.
READ_BOUND = 32 << 20
VALUES = EDGE_NUMBERS | JSON_VALUES
SOURCES = (
    st.fixed_dictionaries(
        {"generator": st.sampled_from(sorted(BUILTIN_GENERATORS)) | st.text(max_size=6)},
        optional={"seed": VALUES, "freq": VALUES, "level_db": VALUES, "steps": VALUES},
    )
    | st.fixed_dictionaries({"file": st.text(max_size=12)})
    | VALUES
)
EVENTS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=6) | VALUES,
        "category": st.sampled_from(["footsteps", "dialogue", "explosion", "ambience"]) | VALUES,
        "at": VALUES,
        "time": VALUES,
        "duration": VALUES,
        "frames": VALUES,
        "gain_db": VALUES,
        "pan": VALUES,
        "source": SOURCES,
        "to": st.sampled_from(sorted(NODES)) | VALUES,
    },
)
HEADERS = st.fixed_dictionaries(
    {"aers_event_log": st.just(1) | VALUES, "sample_rate": st.just(RATE) | VALUES},
    optional={"block_size": VALUES, "seed": VALUES, "frames": VALUES, "total_latency": VALUES},
)


def _jsonl(records: list[Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@given(events=st.lists(EVENTS, max_size=6))
@fuzz_settings()
def test_fuzzed_scenes_are_read_or_refused_in_lines(
    events: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "scene.jsonl"
    path.write_text(_jsonl(events), encoding="utf-8")
    with allocation_peak(READ_BOUND):
        try:
            load_scene(path, RATE, nodes=NODES, default_target="bus")
        except ConfigError as err:
            assert all(str(p).startswith(str(path)) for p in err.problems)


@given(header=HEADERS | VALUES, events=st.lists(EVENTS, max_size=6))
@fuzz_settings()
def test_fuzzed_event_logs_are_read_or_refused_in_lines(
    header: Any, events: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "run.events.jsonl"
    path.write_text(_jsonl([header, *events]), encoding="utf-8")
    with allocation_peak(READ_BOUND):
        try:
            read_event_log(path, RATE, nodes=NODES)
        except ConfigError as err:
            assert all(str(p).startswith(str(path)) for p in err.problems)
