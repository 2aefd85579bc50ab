"""Scene events: model, procedural generators, sample-accurate scheduler, logs and replay.

The ``events`` and ``duck`` node types are built-ins, registered in
``aers_host._builtins``. Generators from plugin packages join the built-ins through the
``aers_register_event_generators`` hook: :func:`collect_generators` gathers them.

Typical use (what ``aers render`` and ``aers events record`` do)::

    sched = scheduler_for_config(cfg, registry, replay=log_path_or_None)
    result = render(cfg, registry, out_dir=out, events=sched, event_targets=sched.targets())
    write_event_log(out / "events.jsonl", log_entries_for_plan(sched, result.plan),
                    sample_rate=cfg.sample_rate, block_size=cfg.block_size)
"""

from .._seeds import derive_seed as derived_seed
from ._generators import BUILTIN_GENERATORS, BuiltinGenerator, EventGenerator
from ._hooks import (
    aers_register_event_generators,
    collect_generators,
    default_generators,
)
from ._model import Event, parse_events
from ._nodes import (
    DUCK_NODE,
    EVENTS_NODE,
    Duck,
    EventsSource,
)
from ._replay import EventLog, path_offsets, read_event_log, write_event_log
from ._scene import events_from_config, load_scene
from ._scene_gen import SCENE_KINDS, generate_scene, write_scene
from ._scheduler import EventScheduler, VoiceLimit
from ._schema import event_schema
from ._wiring import (
    events_for_config,
    log_entries_for_plan,
    scheduler_for_config,
)

__all__ = [
    "BUILTIN_GENERATORS",
    "DUCK_NODE",
    "EVENTS_NODE",
    "SCENE_KINDS",
    "BuiltinGenerator",
    "Duck",
    "Event",
    "EventGenerator",
    "EventLog",
    "EventScheduler",
    "EventsSource",
    "VoiceLimit",
    "aers_register_event_generators",
    "collect_generators",
    "default_generators",
    "derived_seed",
    "event_schema",
    "events_for_config",
    "events_from_config",
    "generate_scene",
    "load_scene",
    "log_entries_for_plan",
    "parse_events",
    "path_offsets",
    "read_event_log",
    "scheduler_for_config",
    "write_event_log",
    "write_scene",
]
