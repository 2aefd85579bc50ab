"""The ``lv2`` section of a signed manifest: an adopted plugin's port layout, typed.

``aers plugin adopt`` writes it from the bundle's Turtle; hosting reads only this (signed)
record, never Turtle. :meth:`Lv2Section.from_manifest` is the boundary check: the schema
has already bounded every number (port indices < 4096, atom buffers <= 1 MiB, at most two
audio ports a side); here the record must also be self-consistent and agree with the
manifest's ``params`` before anything is allocated from it.

Example:
    >>> section = Lv2Section.from_dict({"uri": "urn:x", "audio_in": [0], "audio_out": [1],
    ...     "controls": {"gain": 2}, "outputs": [3], "latency_port": 3, "atom_ports": [],
    ...     "state": False}, "x")
    >>> section.port_count, section.channels
    (4, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import PluginValidationError


@dataclass(frozen=True, slots=True)
class AtomPort:
    """An optional atom port the host connects to an empty sequence (or a scratch buffer)."""

    index: int
    output: bool
    size: int


@dataclass(frozen=True, slots=True)
class Lv2Section:
    """What the host needs to run an adopted LV2 plugin (see the module docstring).

    Attributes:
        uri: the plugin URI, matched against the library's ``lv2_descriptor`` list.
        audio_in: input audio port indices, in channel order (left, right).
        audio_out: output audio port indices, in channel order.
        controls: input control port index per parameter (LV2 symbol) name.
        outputs: output control port indices (meters, latency): connected to scratch.
        latency_port: the ``lv2:reportsLatency`` output, if any.
        atom_ports: optional atom ports (never MIDI; refused at adopt otherwise).
        state: whether the plugin offers ``state:interface``.
    """

    uri: str
    audio_in: tuple[int, ...]
    audio_out: tuple[int, ...]
    controls: Mapping[str, int]
    outputs: tuple[int, ...]
    latency_port: int | None
    atom_ports: tuple[AtomPort, ...]
    state: bool

    @property
    def channels(self) -> int:
        """Audio channels the plugin processes (inputs equal outputs)."""
        return len(self.audio_in)

    @property
    def port_count(self) -> int:
        """One more than the largest port index used."""
        used = [*self.audio_in, *self.audio_out, *self.controls.values(), *self.outputs]
        used += [a.index for a in self.atom_ports]
        return max(used) + 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str) -> Lv2Section:
        """Build from the schema-valid manifest record; refuse an inconsistent one.

        Raises:
            PluginValidationError: a port used twice, audio inputs and outputs differing
                in number, or a latency port that is not a control output.
        """
        section = cls(
            uri=str(data["uri"]),
            audio_in=tuple(int(i) for i in data["audio_in"]),
            audio_out=tuple(int(i) for i in data["audio_out"]),
            controls={str(k): int(v) for k, v in dict(data["controls"]).items()},
            outputs=tuple(int(i) for i in data["outputs"]),
            latency_port=None if data["latency_port"] is None else int(data["latency_port"]),
            atom_ports=tuple(
                AtomPort(int(a["index"]), bool(a["output"]), int(a["size"]))
                for a in data["atom_ports"]
            ),
            state=bool(data["state"]),
        )
        problems = section.problems()
        if problems:
            raise PluginValidationError(name, "invalid lv2 section: " + "; ".join(problems))
        return section

    @classmethod
    def from_manifest(
        cls, data: Mapping[str, object] | None, params: Sequence[Mapping[str, Any]], name: str
    ) -> Lv2Section:
        """The section of a verified ``lv2`` manifest, checked against its ``params``.

        Args:
            data: the manifest's ``lv2`` object (``SignedPart.lv2``); None when it has none.
            params: the manifest's ``params``.
            name: the plugin name, for messages.

        Raises:
            PluginValidationError: no section, an inconsistent one, or params without a
                control port (or control ports without a param).
        """
        if data is None:
            raise PluginValidationError(name, "kind lv2 without an lv2 section")
        section = cls.from_dict(data, name)
        declared = {str(p["name"]) for p in params}
        if declared != set(section.controls):
            odd = sorted(declared ^ set(section.controls))
            raise PluginValidationError(
                name, f"params and lv2 control ports differ: {', '.join(odd)}"
            )
        return section

    def problems(self) -> list[str]:
        """Why this record cannot describe a plugin (empty when it can)."""
        problems: list[str] = []
        used = [*self.audio_in, *self.audio_out, *self.controls.values(), *self.outputs]
        used += [a.index for a in self.atom_ports]
        if len(used) != len(set(used)):
            problems.append("a port index is used twice")
        if len(self.audio_in) != len(self.audio_out):
            problems.append(f"{len(self.audio_in)} audio inputs but {len(self.audio_out)} outputs")
        if self.latency_port is not None and self.latency_port not in self.outputs:
            problems.append("latency_port is not a control output")
        return problems

    def to_dict(self) -> dict[str, Any]:
        """The manifest record (inverse of :meth:`from_dict`)."""
        return {
            "uri": self.uri,
            "audio_in": list(self.audio_in),
            "audio_out": list(self.audio_out),
            "controls": dict(self.controls),
            "outputs": list(self.outputs),
            "latency_port": self.latency_port,
            "atom_ports": [
                {"index": a.index, "output": a.output, "size": a.size} for a in self.atom_ports
            ],
            "state": self.state,
        }
