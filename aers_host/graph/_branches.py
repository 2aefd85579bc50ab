"""Cut a plan into levels of independent branches that may run on different threads.

Pure planning, no threads: :func:`split_levels` looks at a :class:`Plan` once, before the
first block, and says which nodes may run at the same time (docs/architecture.md,
"Two cores").

* A **branch** is a linear run of the dependency graph: each node after the first reads
  only its predecessor, which nobody else reads. A node depends on the sources of its
  forward inputs, its side-chain and its direct upstream; feedback inputs are read after
  the whole block (``feedback_write``), so they are no dependency inside a block.
* Branches are gathered into **clusters**, run one after another on one thread. A branch
  whose inputs all come from one cluster joins it when it is that cluster's only such
  follower at its depth (a channel strip that fans out into a send and back into its own
  sub-mix stays together; a source feeding four parallel chains does not swallow them).
* A cluster's **level** is one more than the deepest level among the clusters it reads;
  clusters of one level are independent, so a level's clusters are dealt to lanes
  (longest first, to the least loaded lane) and run at once, with one barrier after.
* A level is only run on several lanes when its lighter lanes carry enough estimated work
  (:data:`MIN_LANE_WORK`) and, with ``threads`` auto, when every lane holds a node that
  waits on a worker process or a peer off the GIL; other levels run on the calling
  thread, so a plan that cannot gain (a single chain) keeps the single-thread loop
  unchanged and starts no thread.
* Nodes whose processors share something outside the engine (sandboxed nodes sharing one
  worker process; in-process plugin code of one node type, which may keep global state)
  stay on one lane of a level.

Every node is in exactly one lane of one level; within a lane nodes keep plan order, and
levels run in order, so each node sees exactly the inputs it sees on one thread.

Example:
    >>> split_levels(plan, threads=2)          # doctest: +SKIP
    Schedule(levels=(((0, 1, 2), (3, 4, 5)), ((6, 7),)), threads=2)
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Final

from .._features import WaitsElsewhere
from .._limits import MAX_THREADS
from .._processor import ProcessorBase
from ..errors import GraphError
from ._plan import NodeRuntime, Plan
from ._sinks import OutputSink

#: Estimated cost of a node beyond its samples: dispatch, clock read, NaN screen
#: (in channel-samples, the unit of :func:`node_cost`).
NODE_OVERHEAD: Final = 256
#: Estimated cost of a node whose processor waits on another process or host (a
#: sandboxed, LV2- or native-worker or remote node: a round trip of tens of
#: microseconds, spent off the GIL).
EXTERNAL_COST: Final = 32_768
#: With an explicit thread count, a level runs on several lanes when every lane but the
#: heaviest carries at least this much estimated work.
MIN_LANE_WORK: Final = 4_096

Lane = tuple[int, ...]
Level = tuple[Lane, ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Levels of lanes of node indices; lane 0 of each level runs on the calling thread.

    Attributes:
        levels: in order; each level holds one lane per thread it uses.
        threads: most lanes of any level (1: the plan runs on one thread).
    """

    levels: tuple[Level, ...]
    threads: int

    @property
    def parallel(self) -> bool:
        """Whether any level uses more than one thread."""
        return self.threads > 1


def available_cores() -> int:
    """[any-thread] CPU cores this process may run on (its affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int | str | None) -> int | None:
    """``threads`` as given by a user (an int, ``"auto"`` or None = auto), checked.

    Returns:
        The thread count, or None for auto.

    Raises:
        GraphError: not ``auto`` and not a whole number in 1 … :data:`MAX_THREADS`.
    """
    if threads is None or threads == "auto":
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise GraphError(
            f"threads must be a whole number 1 … {MAX_THREADS} or 'auto', got {threads!r}"
        )
    return threads


def split_levels(plan: Plan, threads: int | None) -> Schedule:
    """[main-thread & !active] The plan's levels for at most ``threads`` threads.

    Args:
        plan: the prepared plan.
        threads: most threads to use (1: everything on the calling thread); None (auto)
            uses the available cores, and only for levels where every lane holds a node
            that waits off the GIL (see :func:`_worth_it`).
    """
    auto = threads is None
    limit = min(available_cores(), MAX_THREADS) if threads is None else threads
    n = len(plan.nodes)
    every: Level = (tuple(range(n)),)
    if limit <= 1 or n < 2:
        return Schedule((every,), 1)
    deps = [_dependencies(node) for node in plan.nodes]
    clusters, levels = _clusters(_branches(deps), deps)
    by_level: dict[int, list[list[int]]] = {}
    for members, level in zip(clusters, levels, strict=True):
        by_level.setdefault(level, []).append(sorted(members))
    cost = [node_cost(node, plan.block_size) for node in plan.nodes]
    waits = [waits_elsewhere(node) for node in plan.nodes]
    keys = [_affinity(node) for node in plan.nodes]
    out: list[Level] = []
    for level in sorted(by_level):
        lanes = _deal(_bundle(by_level[level], keys), cost, limit)
        if not _worth_it(lanes, cost, waits, auto):
            lanes = [sorted(i for lane in lanes for i in lane)]
        if len(lanes) == 1 and out and len(out[-1]) == 1:  # consecutive one-lane levels join
            out[-1] = (tuple(sorted((*out[-1][0], *lanes[0]))),)
        else:
            out.append(tuple(tuple(lane) for lane in lanes))
    widest = max(len(level) for level in out)
    return Schedule(tuple(out), widest) if widest > 1 else Schedule((every,), 1)


def _worth_it(
    lanes: list[list[int]], cost: Sequence[int], waits: Sequence[bool], auto: bool
) -> bool:
    """Whether running ``lanes`` at once may beat running them one after another.

    With ``auto``, every lane must also hold a node that waits off the GIL: lanes of
    built-in nodes hand the GIL to each other at every kernel call, and on the project's
    2-core VM that made two lanes slower than one at every block size measured (32 …
    8192 frames; ``benchmarks/bench_parallel.py``), while lanes that wait on workers or
    peers overlap their waits.
    """
    if len(lanes) < 2:
        return False
    if min(sum(cost[i] for i in lane) for lane in lanes) < MIN_LANE_WORK:
        return False
    return not auto or all(any(waits[i] for i in lane) for lane in lanes)


def node_cost(node: NodeRuntime, frames: int) -> int:
    """Estimated work of one block of ``node``, in channel-samples (see the constants)."""
    samples = frames * max(node.channels_in, node.channels_out, 1)
    return samples + NODE_OVERHEAD + (EXTERNAL_COST if waits_elsewhere(node) else 0)


def waits_elsewhere(node: NodeRuntime) -> bool:
    """Whether ``node`` waits for another process or host each block, with the GIL released.

    A sandboxed (or LV2-/native-worker) node waits on its worker, a remote node on its
    peer (:class:`~aers_host._features.WaitsElsewhere`).
    """
    proc = node.proc
    return isinstance(proc, WaitsElsewhere) and proc.waits_on is not None


def _dependencies(node: NodeRuntime) -> tuple[int, ...]:
    """Nodes whose output (or input, for a pre tap) ``node`` reads during a block."""
    found = {e.src for e in node.edges if not e.back}
    found.update(e.src for e in node.sidechain_edges)
    if node.direct >= 0:
        found.add(node.direct)
    return tuple(sorted(found))


def _branches(deps: Sequence[tuple[int, ...]]) -> list[list[int]]:
    """Linear runs: a node joins its only dependency's run when it is that node's only reader."""
    readers = [0] * len(deps)
    for found in deps:
        for d in found:
            readers[d] += 1
    run_of = [0] * len(deps)
    runs: list[list[int]] = []
    for i, found in enumerate(deps):  # plan order is topological
        if len(found) == 1 and readers[found[0]] == 1:
            run_of[i] = run_of[found[0]]
            runs[run_of[i]].append(i)
        else:
            run_of[i] = len(runs)
            runs.append([i])
    return runs


def _clusters(
    runs: list[list[int]], deps: Sequence[tuple[int, ...]]
) -> tuple[list[list[int]], list[int]]:
    """Gather runs into clusters with levels (see the module docstring)."""
    cluster_of: dict[int, int] = {}  # node -> cluster
    clusters: list[list[int]] = []
    levels: list[int] = []
    for _depth, group in _by_depth(runs, deps):
        followers: dict[int, list[list[int]]] = {}
        fresh: list[list[int]] = []
        for run in group:
            homes = {cluster_of[d] for d in deps[run[0]]}
            if len(homes) == 1:
                followers.setdefault(homes.pop(), []).append(run)
            else:
                fresh.append(run)
        for home, runs_here in followers.items():
            if len(runs_here) == 1:  # the cluster's only follower at this depth joins it
                clusters[home].extend(runs_here[0])
                cluster_of.update(dict.fromkeys(runs_here[0], home))
            else:
                fresh.extend(runs_here)
        for run in sorted(fresh):
            homes = {cluster_of[d] for d in deps[run[0]]}
            cluster_of.update(dict.fromkeys(run, len(clusters)))
            clusters.append(list(run))
            levels.append(1 + max((levels[h] for h in homes), default=-1))
    return clusters, levels


def _by_depth(
    runs: list[list[int]], deps: Sequence[tuple[int, ...]]
) -> list[tuple[int, list[list[int]]]]:
    """Runs grouped by their longest-path depth in the run graph, shallowest first."""
    run_of = {i: k for k, run in enumerate(runs) for i in run}
    depth = [0] * len(runs)
    for k, run in enumerate(runs):  # runs are in topological order of their first node
        depth[k] = 1 + max((depth[run_of[d]] for d in deps[run[0]]), default=-1)
    grouped: dict[int, list[list[int]]] = {}
    for k, run in enumerate(runs):
        grouped.setdefault(depth[k], []).append(run)
    return sorted(grouped.items())


def _affinity(node: NodeRuntime) -> Hashable | None:
    """What ``node`` shares with other nodes outside the engine, if anything.

    Built-in processors keep all state in their own arrays (None). A sandboxed node
    talks through its worker link, shared by every node of a ``shared``/``per-plugin``
    worker; other foreign processors run plugin code in this process, which may keep
    state global to its library or module, so nodes of one type share a lane.
    """
    proc = node.proc
    if isinstance(proc, ProcessorBase | OutputSink):
        return None
    if isinstance(proc, WaitsElsewhere) and (peer := proc.waits_on) is not None:
        # A sandboxed node's worker link; a remote node waits on its own connection.
        return None if peer is proc else ("link", id(peer))
    return ("type", node.type_name)


def _bundle(clusters: list[list[int]], keys: Sequence[Hashable | None]) -> list[list[int]]:
    """Merge clusters that hold nodes with the same affinity key (union by key)."""
    owner: dict[Hashable, int] = {}
    parent = list(range(len(clusters)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, members in enumerate(clusters):
        for i in members:
            key = keys[i]
            if key is None:
                continue
            if key in owner:
                parent[root(k)] = root(owner[key])
            else:
                owner[key] = k
    merged: dict[int, list[int]] = {}
    for k, members in enumerate(clusters):
        merged.setdefault(root(k), []).extend(members)
    return [sorted(m) for m in merged.values()]


def _deal(bundles: list[list[int]], cost: Sequence[int], threads: int) -> list[list[int]]:
    """Deal bundles to at most ``threads`` lanes, heaviest first to the lightest lane.

    Ties break by plan order, so the same plan always gets the same lanes.
    """
    weight = [sum(cost[i] for i in b) for b in bundles]
    order = sorted(range(len(bundles)), key=lambda k: (-weight[k], bundles[k][0]))
    lanes: list[list[int]] = [[] for _ in range(min(threads, len(bundles)))]
    load = [0] * len(lanes)
    for k in order:
        target = min(range(len(lanes)), key=lambda t: (load[t], t))
        lanes[target].extend(bundles[k])
        load[target] += weight[k]
    return [sorted(lane) for lane in sorted(lanes, key=lambda lane: lane[0]) if lane]
