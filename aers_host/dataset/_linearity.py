"""Which nodes event audio passes, and whether stems through them can sum to the mix.

The stem rule (docs/dataset.md): the mix is rendered once with every event, once with
none (the *bed*) and once per event with only that event playing and the bed silenced.
``bed + Σ event stems == mix`` holds — up to float32 rounding, far below -120 dBFS — when
every node the event audio reaches is *linear*: its output for a sum of inputs is the sum
of its outputs, and silence in gives silence out. Time-varying is fine (automation on a
gain stays linear); level-dependent is not.

Invariants:

* "Reaches" follows every connection out of an event target — main, side-chain and
  feedback — so a ducker keyed by dialogue counts as on the dialogue's path.
* Only types that declare themselves linear (``NodeTraits.linear``) pass. Plugins
  (sandboxed or native) and remote nodes are of unknown linearity and count as
  nonlinear; a bypassed or muted node is linear whatever its type (identity or silence).

Example:
    >>> nonlinear_nodes(cfg, registry, {"sfx"})                         # doctest: +SKIP
    [NonlinearNode(id='sfx_comp', type='compressor', reason='level-dependent gain')]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .._nodetype import NodeType
from ..errors import GraphError

if TYPE_CHECKING:
    from ..config import GraphConfig

#: The reason given for a type that declares none (plugins).
UNKNOWN_LINEARITY: Final = "plugin of unknown linearity"


@dataclass(frozen=True, slots=True)
class NonlinearNode:
    """A node on an event path that breaks exact stem summation."""

    #: Node id in the config.
    id: str
    #: Its ``type``.
    type: str
    #: Why it is not linear, for messages.
    reason: str

    def __str__(self) -> str:
        return f"{self.id} ({self.type}: {self.reason})"


class NonlinearStemsError(GraphError):
    """Exact stems were asked for, but event audio passes nonlinear nodes.

    Attributes:
        nodes: the offending nodes, in config order.
    """

    def __init__(self, config_file: str, nodes: Collection[NonlinearNode]) -> None:
        self.nodes = tuple(nodes)
        listed = ", ".join(str(n) for n in self.nodes)
        super().__init__(
            f"{config_file}: stems cannot sum exactly to the mix: event audio passes "
            f"nonlinear nodes {listed}. Use --stems-residual (the same stems; residual.wav "
            f"holds the nonlinear interaction, so the files still sum to the mix) or "
            f"--stems-pre (dry stems at each event's target node, which sum to its input)."
        )


def event_reach(config: GraphConfig, targets: Collection[str]) -> frozenset[str]:
    """Every node reachable from ``targets`` (the targets included), over any connection."""
    succ: dict[str, list[str]] = {}
    for conn in config.connections:
        succ.setdefault(conn.src, []).append(conn.dst)
    seen = set(targets)
    stack = list(targets)
    while stack:
        for nxt in succ.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return frozenset(seen)


def nonlinear_nodes(
    config: GraphConfig, registry: Mapping[str, NodeType], targets: Collection[str]
) -> list[NonlinearNode]:
    """The nodes reached from ``targets`` that are not linear, in config order.

    Args:
        config: the validated config.
        registry: its node types (each declares whether it is linear).
        targets: the event target node ids.

    Returns:
        An empty list when exact stems are possible.
    """
    reach = event_reach(config, targets)
    found = []
    for node_id, spec in config.nodes.items():
        traits = registry[spec.type].traits
        if node_id not in reach or traits.linear:
            continue
        if spec.options.get("bypass") or spec.options.get("mute"):
            continue
        reason = traits.nonlinear_reason or UNKNOWN_LINEARITY
        found.append(NonlinearNode(node_id, spec.type, reason))
    return found


def has_automation(config: GraphConfig) -> bool:
    """True when any node carries automation (renders must then start at sample 0)."""
    return any(spec.options.get("automation") for spec in config.nodes.values())
