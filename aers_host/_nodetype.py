"""Node types: what a config's ``type:`` names, and how the validator and planner ask about it.

A node type knows its parameter schema (checked with JSON Schema), its semantic checks
(frequency below Nyquist, file exists — things a schema cannot say), how many channels it
outputs for a given input, and how to create its Processor. Built-ins, trusted entry-point
packages and signed plugins all provide node types through the same pluggy hook, so the
validator treats them alike.

What the host needs to know about a type beyond that — whether it is linear, metered by
default, keyed by a side-chain, able to close a feedback loop, whether a source ends, how
to warm its kernels — is declared on the type as :class:`NodeTraits`. Every list of types
with a property is derived from the registry (``node.traits.linear``), never written out
by name, so adding a built-in is one file and one registration (CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from ._processor import ParamSpec, Processor

Role = Literal["source", "processor", "sink"]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a node type may know while checking or creating a node."""

    #: Graph sample rate in Hz.
    sample_rate: int
    #: Largest block the engine will ask for.
    block_size: int
    #: Folder that relative paths in params resolve against (the config's folder).
    base_dir: Path
    #: The node's id in the graph (for messages).
    node_id: str = ""
    #: Render length in frames, when known (sinks may preallocate for it).
    total_frames: int | None = None
    #: Node-level options from the config beside ``params`` (``fallback``, ``deadline_ms``,
    #: ``isolation``) that plugin loaders honour.
    node_options: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, path: str) -> Path:
        """Resolve a params path against the config's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


@dataclass(frozen=True, slots=True)
class ParamIssue:
    """A semantic problem in a node's params; ``path`` is relative to ``params``."""

    path: str
    message: str
    hint: str = ""


class ChannelError(Exception):
    """Raised by ``output_channels`` when a node cannot take the given input channel count."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


#: ``(params, sample_rate) -> samples``: a length a node type computes from its params.
SampleCount = Callable[[Mapping[str, Any], int], int]


@dataclass(frozen=True, slots=True)
class NodeTraits:
    """What validation, planning, stems, metering and warm-up ask of a node type.

    The defaults describe a type the host knows nothing about (a plugin): nonlinear, not
    metered, no side-chain, cannot close a feedback loop, a source that never ends.

    Example:
        >>> NodeTraits(linear=True, metered=True).sidechain
        False
    """

    #: Output for a sum of inputs is the sum of the outputs, and silence gives silence
    #: (time-varying is fine, level-dependent is not): exact stems may pass it.
    linear: bool = False
    #: Why it is not linear, for messages ("" when linear or unknown).
    nonlinear_reason: str = ""
    #: A bus or meter: its level is recorded per block when no node list is given.
    metered: bool = False
    #: Accepts ``port: sidechain`` connections (its processor is a ``TakesSidechain``).
    sidechain: bool = False
    #: Can close a feedback loop; gives the delay in samples for its params. The loop is
    #: exact when that is at least one block (the validator checks it). Computed from the
    #: params alone: config validation never loads the DSP to know it. The engine runs
    #: such a node in two phases, so its processor has ``feedback_read(inp, out, start,
    #: events)`` (its past, at its place in the order) and ``feedback_write(inp)`` (after
    #: every other node), as ``aers_host.dsp.Delay`` does.
    feedback_delay: SampleCount | None = None
    #: Samples by which the node moves the first sample of its input to its output on
    #: purpose (not latency, which the planner compensates): event logs add it.
    onset_delay: SampleCount | None = None
    #: For a source: whether it ends by itself with these params, so a render without a
    #: ``duration`` can take its length (None: it never ends). Read by ``aers validate``
    #: before anything is built; the prepared processor's ``length_frames`` (``KnowsLength``)
    #: gives the length.
    ends: Callable[[Mapping[str, Any]], bool] | None = None
    #: Runs the type's compiled kernels once on tiny buffers (``aers doctor --warm``,
    #: ``aers serve``), so no first block compiles them.
    warm: Callable[[], object] | None = None


#: Traits of a type that declares none.
NO_TRAITS: Final = NodeTraits()


class NodeType(Protocol):
    """The contract between a node ``type`` name and the validator, planner and engine."""

    @property
    def name(self) -> str:
        """The name used as ``type:`` in configs."""
        ...

    @property
    def role(self) -> Role:
        """``source`` (no inputs), ``processor`` or ``sink`` (no outputs, writes files)."""
        ...

    @property
    def summary(self) -> str:
        """One line for ``aers plugin list`` and ``--help``."""
        ...

    @property
    def origin(self) -> str:
        """Where it came from: ``builtin``, ``entry-point:<dist>`` or ``store``."""
        ...

    @property
    def traits(self) -> NodeTraits:
        """What the host needs to know about the type beyond params and channels."""
        ...

    def params_schema(self) -> Mapping[str, Any]:
        """JSON Schema (2020-12) of the node's ``params`` object."""
        ...

    def param_specs(self) -> Sequence[ParamSpec]:
        """The automatable numeric parameters."""
        ...

    def check(self, params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
        """Semantic checks that need the sample rate or the file system."""
        ...

    def output_channels(
        self, params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext
    ) -> int:
        """Channels out for ``input_channels`` in (None for sources); raises ChannelError."""
        ...

    def create(self, params: Mapping[str, Any], ctx: CheckContext) -> Processor:
        """Build an unprepared Processor for validated params."""
        ...


def same_channels(params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext) -> int:
    """Channel rule of most processors: as many out as in."""
    if input_channels is None:
        raise ChannelError("has no input connected", "connect a source to it")
    return input_channels


def spec_properties(specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """JSON Schema properties for numeric params, with their declared ranges."""
    return {
        spec.name: {
            "type": "number",
            "minimum": spec.min,
            "maximum": spec.max,
            "description": f"{spec.doc} [{spec.unit}]".strip() if spec.unit else spec.doc,
        }
        for spec in specs
    }


@dataclass(frozen=True, slots=True)
class BuiltinNodeType:
    """A node type described by data: how built-ins (and simple plugins) declare themselves.

    ``specs`` become schema properties automatically; ``extra_properties`` adds the
    non-numeric ones (``path``, ``bands``...). ``checker`` adds semantic checks.
    """

    name: str
    role: Role
    summary: str
    factory: Callable[[Mapping[str, Any], CheckContext], Processor]
    specs: tuple[ParamSpec, ...] = ()
    extra_properties: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    checker: Callable[[Mapping[str, Any], CheckContext], list[ParamIssue]] | None = None
    channels: Callable[[Mapping[str, Any], int | None, CheckContext], int] = same_channels
    schema_extra: Mapping[str, Any] = field(default_factory=dict)
    origin: str = "builtin"
    traits: NodeTraits = NO_TRAITS

    def params_schema(self) -> Mapping[str, Any]:
        """Schema of ``params``: declared specs plus extra properties, nothing else."""
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {**spec_properties(self.specs), **self.extra_properties},
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        schema.update(self.schema_extra)
        return schema

    def param_specs(self) -> Sequence[ParamSpec]:
        """The declared automatable parameters."""
        return self.specs

    def check(self, params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
        """Run the semantic checker, if any."""
        return self.checker(params, ctx) if self.checker else []

    def output_channels(
        self, params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext
    ) -> int:
        """Apply the channel rule."""
        return self.channels(params, input_channels, ctx)

    def create(self, params: Mapping[str, Any], ctx: CheckContext) -> Processor:
        """Build the processor."""
        return self.factory(params, ctx)
