"""The events package's pluggy hook implementation, and the generator registry.

``aers_host.events`` re-exports the ``@hookimpl`` function, so a plugin manager can
register the package itself: ``pm.register(aers_host.events, name="aers.events")``.
Plugin packages add generators through the same ``aers_register_event_generators`` hook;
built-in generator names are reserved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from .._hooks import ENTRY_POINT_GROUP, PROJECT_NAME, AersHookSpecs, hookimpl
from ..errors import PluginValidationError
from ._generators import BUILTIN_GENERATORS, EventGenerator


@hookimpl
def aers_register_event_generators() -> Sequence[Any]:
    """The built-in generators (footsteps, dialogue, explosion, ambience, tone, impulse)."""
    return list(BUILTIN_GENERATORS.values())


def collect_generators(pm: pluggy.PluginManager | None = None) -> dict[str, EventGenerator]:
    """Name → generator from every registered hook (the built-ins when ``pm`` is None).

    Raises:
        PluginValidationError: a generator lacks ``name``/``generate`` or reuses a name.
    """
    if pm is None:
        return dict(BUILTIN_GENERATORS)
    registry: dict[str, EventGenerator] = {}
    batches = pm.hook.aers_register_event_generators()
    if not any(batch is not None and BUILTIN_GENERATORS["impulse"] in batch for batch in batches):
        batches = [list(BUILTIN_GENERATORS.values()), *batches]
    for batch in batches:
        for gen in batch or ():
            name = getattr(gen, "name", None)
            if not isinstance(name, str) or not callable(getattr(gen, "generate", None)):
                raise PluginValidationError(
                    repr(gen),
                    "an event generator needs `name` and "
                    "`generate(seed, sample_rate, frames, params)`",
                )
            if name in registry:
                raise PluginValidationError(name, "event generator name is already registered")
            registry[name] = gen
    return registry


def default_generators(*, entry_points: bool = True) -> dict[str, EventGenerator]:
    """The generators a CLI run uses: built-ins plus trusted entry-point packages'.

    Raises:
        PluginValidationError: a package's generator is malformed or reuses a name.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(AersHookSpecs)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return collect_generators(pm)
