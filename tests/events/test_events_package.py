"""The public surface of ``aers_host.events``: every ``__all__`` name imports."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pluggy
import pytest

import aers_host.events as events
from aers_host.errors import PluginValidationError
from aers_host.plugins import hookimpl
from aers_host.plugins.hookspecs import AersHookSpecs


def test_every_public_name_imports() -> None:
    module = importlib.import_module("aers_host.events")
    assert events.__all__ == sorted(events.__all__, key=lambda n: (not n.isupper(), n))
    for name in events.__all__:
        assert getattr(module, name) is not None, name


def test_generator_hook_lists_the_builtins() -> None:
    assert [g.name for g in events.aers_register_event_generators()] == [
        "footsteps",
        "dialogue",
        "explosion",
        "ambience",
        "tone",
        "impulse",
    ]
    assert set(events.collect_generators()) == set(events.BUILTIN_GENERATORS)


class Chirp:
    """A third-party generator: only ``name`` and ``generate``."""

    name = "chirp"

    def generate(self, seed: int, sample_rate: int, frames: int | None, params: object):  # type: ignore[no-untyped-def]
        return np.full(frames or 4, 0.5, np.float32)


class ChirpPlugin:
    @hookimpl
    def aers_register_event_generators(self) -> list[object]:
        return [Chirp()]


class ImpostorPlugin:
    @hookimpl
    def aers_register_event_generators(self) -> list[object]:
        impostor = Chirp()
        impostor.name = "impulse"
        return [impostor]


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("aers")
    pm.add_hookspecs(AersHookSpecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def test_plugin_generators_join_the_builtins_and_play() -> None:
    gens = events.collect_generators(manager(ChirpPlugin()))
    assert "chirp" in gens and "footsteps" in gens
    ev = events.parse_events(
        [{"id": "c", "category": "fx", "at": 2, "to": "bus", "source": {"generator": "chirp"}}],
        48000,
        Path("."),
        generators=gens,
    )
    sched = events.EventScheduler(ev, 48000, {"bus": 1}, generators=gens)
    sched.prepare(8)
    buf = np.zeros((1, 8), np.float32)
    sched.mix_into("bus", buf, 0)
    assert buf.tolist() == [[0, 0, 0.5, 0.5, 0.5, 0.5, 0, 0]]


def test_a_plugin_cannot_take_a_builtin_generator_name() -> None:
    with pytest.raises(PluginValidationError, match="already registered"):
        events.collect_generators(manager(ImpostorPlugin()))


def test_duck_declares_a_warm_up_that_compiles() -> None:
    assert events.DUCK_NODE.traits.warm is not None
    events.DUCK_NODE.traits.warm()
