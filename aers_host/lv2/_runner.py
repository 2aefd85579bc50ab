"""The worker side of an LV2 stage: the same :class:`~._processor.Lv2Processor`, fenced.

The host sends the signed port layout, the manifest's params and the number of the sealed
memfd holding the library; the worker re-hashes the memfd, dlopens it and hosts the
plugin exactly as an in-process node would (see :mod:`aers_host.sandbox._stages`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..native._library import SealedLibrary
from ._processor import ControlParam, Lv2Library, Lv2Processor
from ._section import Lv2Section


class Lv2Runner:
    """[worker main-thread] One LV2 node's plugin in a worker.

    Attributes:
        params: current parameter values (the host keeps the authoritative mirror).
    """

    def __init__(self, processor: Lv2Processor) -> None:
        self._proc = processor
        self.params = processor.values

    @property
    def latency_samples(self) -> int:
        """[any-thread] The latency the plugin reported at prepare."""
        return self._proc.latency_samples

    @classmethod
    def from_stage(cls, stage: Mapping[str, Any]) -> Lv2Runner:
        """[worker main-thread] Load the stage's library from its inherited memfd.

        Raises:
            HashMismatchError: the memfd's bytes are not the signed ones.
            NativeABIError: dlopen failed or the library lacks the signed URI.
            PluginValidationError: an inconsistent port layout.
        """
        loader = stage["loader"]
        name = str(loader["plugin"])
        section = Lv2Section.from_dict(loader["section"], name)
        sealed = SealedLibrary(
            int(loader["fd"]), str(loader["sha256"]), str(stage["filename"]), str(loader["symbol"])
        )
        controls = [
            ControlParam.from_manifest(p, section.controls[str(p["name"])])
            for p in loader["manifest_params"]
        ]
        library = Lv2Library(name, sealed, section.uri)
        values = {str(k): float(v) for k, v in dict(stage["params"]).items()}
        return cls(Lv2Processor(library, section, controls, values))

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Instantiate, activate and read the latency."""
        self._proc.prepare(sample_rate, max_block, channels)

    def reset(self) -> None:
        """[main-thread] Deactivate and activate again (LV2's reset)."""
        self._proc.reset()

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Control values plus the plugin's own LV2 state."""
        return self._proc.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """[main-thread] Restore what :meth:`get_state` returned."""
        self._proc.set_state(state)

    def process_block(
        self, inp: Any, out: Any, start: int, events: Sequence[tuple[int, int, float]]
    ) -> None:
        """[audio-thread & processing] One block, split at parameter changes."""
        self._proc.process_indexed(inp, out, start, events)
