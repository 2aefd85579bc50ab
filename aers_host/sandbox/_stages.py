"""The worker's loader dispatch: one runner per stage, chosen by the plugin kind.

Every out-of-process kind shares the same worker (shared memory, doorbell, fences,
restart and fallback policy); what differs is the loader inside it:

=========  ==========================================================================
``python`` RestrictedPython facade (:class:`~._runtime.PluginRunner`)
``native`` the AERS C ABI through ctypes, from the host's sealed memfd
           (:class:`~aers_host.native._stage.NativeRunner`)
``lv2``    an LV2 plugin through ctypes, from the host's sealed memfd
           (:class:`aers_host.lv2.Lv2Runner`)
=========  ==========================================================================

A stage document (``worker_spec``) carries ``kind`` and, for code the worker maps itself,
``loader``: the inherited descriptor of the sealed library, its sha256 and whatever the
kind needs. Native kinds also need the system's shared libraries readable, so the worker
lets Landlock grant read/execute on :data:`SYSTEM_LIBRARY_DIRS` (and nothing else) when a
native stage is present.

Example:
    >>> needs_system_libraries({"instances": [{"stages": [{"kind": "lv2"}]}]})
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

#: Directories a worker hosting native code may read and map (the OS's shared libraries:
#: libc, libstdc++, what a bundle links). Trust in them is the operating system's.
SYSTEM_LIBRARY_DIRS: Final = ("/usr/lib", "/lib", "/lib64", "/usr/lib64", "/etc/ld.so.cache")
#: Kinds whose code is machine code the worker dlopens.
NATIVE_KINDS: Final = frozenset({"native", "lv2"})
#: Module and class of each kind's runner (imported in the worker, before its fences).
_RUNNERS: Final = {
    "python": ("aers_host.sandbox._runtime", "PluginRunner"),
    "native": ("aers_host.native._stage", "NativeRunner"),
    "lv2": ("aers_host.lv2._runner", "Lv2Runner"),
}


class StageRunner(Protocol):
    """What the worker (and the in-process runner) calls on one hosted plugin."""

    latency_samples: int
    params: dict[str, float]

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Create and prepare the plugin instance."""

    def reset(self) -> None:
        """[main-thread] Clear the plugin's signal memory."""

    def get_state(self) -> dict[str, Any]:
        """[main-thread] JSON-serialisable state (parameter values plus the plugin's own)."""

    def set_state(self, state: Mapping[str, Any]) -> None:
        """[main-thread] Restore what :meth:`get_state` returned."""

    def process_block(
        self, inp: Any, out: Any, start: int, events: Sequence[tuple[int, int, float]]
    ) -> None:
        """[audio-thread & processing] One block; ``events`` are (offset, index, value)."""


def kinds_of(config: Mapping[str, Any]) -> set[str]:
    """[any-thread] Every plugin kind a worker config hosts."""
    return {
        str(stage.get("kind", "python"))
        for instance in config["instances"]
        for stage in instance["stages"]
    }


def needs_system_libraries(config: Mapping[str, Any]) -> bool:
    """[any-thread] Whether the worker must be able to map system shared libraries."""
    return bool(kinds_of(config) & NATIVE_KINDS)


def preload(config: Mapping[str, Any]) -> None:
    """[worker, pre-fence] Import every runner module the config needs (file system still open).

    ``_runtime`` (stage driving, fallback) is needed whatever the kinds.
    """
    importlib.import_module("aers_host.sandbox._runtime")
    for kind in sorted(kinds_of(config)):
        module, _cls = _runner_path(kind)
        importlib.import_module(module)


def make_runner(stage: Mapping[str, Any]) -> StageRunner:
    """[worker main-thread] The runner of one stage document, by its ``kind``.

    Raises:
        ValueError: an unknown kind (the host never sends one).
    """
    module, cls = _runner_path(str(stage.get("kind", "python")))
    factory = getattr(importlib.import_module(module), cls)
    runner: StageRunner = factory.from_stage(stage)
    return runner


def _runner_path(kind: str) -> tuple[str, str]:
    try:
        return _RUNNERS[kind]
    except KeyError:
        raise ValueError(f"no worker loader for plugin kind {kind!r}") from None
