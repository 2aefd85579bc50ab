"""Graphs in Python: the same node types and validation as configs, no files needed.

A :class:`Graph` is a config document built with method calls. Every ``add`` and
``connect`` is checked at once against the same schemas as a config file (so a typo fails
on the line that made it), and the whole graph again when it is planned. It exports to
YAML/JSON and back unchanged, renders to NumPy arrays without touching disk, and streams
block by block with :meth:`Graph.process`.

Example:
    >>> g = Graph(sample_rate=48000, block_size=256)
    >>> src = g.add("sine", freq=1000, level_db=-6, channels=1)
    >>> eq = g.add("eq", bands=[{"type": "highpass", "freq": 80}])
    >>> out = g.add("output", id="main")
    >>> g.connect(src, eq); g.connect(eq, out)
    >>> audio = render(g, 0.01)["main"]
    >>> audio.shape
    (1, 480)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from ._nodetype import NodeType
from .config import GraphConfig, ParsedDocument, load_config, validate_config_data
from .config._schema import did_you_mean, non_finite_paths, schema_problems
from .errors import ConfigError, Problem
from .graph import Engine, Plan, build_plan
from .graph import render as render_config
from .graph._automation import Lane
from .graph._input import InputSource

Audio = npt.NDArray[np.float32]


#: Keywords of :meth:`Graph.add` that are node options, not parameters.
_OPTIONS = ("bypass", "mute", "fallback", "deadline_ms", "isolation")


class Node(str):
    """A node id returned by :meth:`Graph.add`; usable wherever an id is expected."""

    __slots__ = ()


class Graph:
    """A routing graph built in code.

    Args:
        sample_rate: 44100 or 48000.
        block_size: frames per block (32…8192).
        registry: node types to accept (default: built-ins, entry points, the store).
    """

    def __init__(
        self,
        sample_rate: int = 48_000,
        block_size: int = 512,
        *,
        registry: Mapping[str, NodeType] | None = None,
        base_dir: str | Path = ".",
    ) -> None:
        if registry is None:
            from .plugins import default_registry

            registry = default_registry()
        self.registry = registry
        self.base_dir = Path(base_dir)
        self.data: dict[str, Any] = {
            "version": 1,
            "sample_rate": sample_rate,
            "block_size": block_size,
            "nodes": {},
            "connections": [],
        }
        self._lanes: dict[str, list[Lane]] = {}
        self._live: _Stream | None = None

    # -- building ---------------------------------------------------------------------------

    def add(self, type: str, id: str | None = None, **params: Any) -> Node:
        """Add a node of ``type`` with ``params``; node options go in as keywords too.

        ``bypass``, ``mute``, ``fallback``, ``deadline_ms`` and ``isolation`` are node
        options; every other keyword is a parameter.

        Raises:
            ConfigError: unknown type (with a suggestion) or invalid params.
        """
        node_type = self.registry.get(type)
        if node_type is None:
            raise _error(
                f"nodes.{id or type}.type",
                f"unknown node type {type!r}",
                did_you_mean(type, list(self.registry)),
            )
        node_id = id or self._fresh_id(type)
        if node_id in self.data["nodes"]:
            raise _error(f"nodes.{node_id}", f"duplicate node id {node_id!r}")
        options: dict[str, Any] = {k: params.pop(k) for k in _OPTIONS if k in params}
        problems = schema_problems(
            params,
            node_type.params_schema(),
            file="<graph>",
            base=f"nodes.{node_id}.params",
            line_of=lambda _: 0,
        )
        base = f"nodes.{node_id}.params"
        problems += [
            Problem("<graph>", 0, path, "must be a finite number (NaN and infinity are not)")
            for path in non_finite_paths(params, base)
        ]
        if problems:
            raise ConfigError(problems)
        entry: dict[str, Any] = {"type": type, **options}
        if params:
            entry["params"] = params
        self.data["nodes"][node_id] = entry
        self._invalidate()
        return Node(node_id)

    def connect(self, src: str, dst: str, *, gain_db: float = 0.0, port: str = "main") -> None:
        """Connect ``src``'s output to ``dst``'s input (``port="sidechain"`` for a key input).

        Raises:
            ConfigError: either end is not a node of this graph.
        """
        for end, node_id in (("from", src), ("to", dst)):
            if node_id not in self.data["nodes"]:
                raise _error(
                    f"connections.{len(self.data['connections'])}.{end}",
                    f"connection {end} missing node {node_id!r}",
                    did_you_mean(str(node_id), list(self.data["nodes"])),
                )
        connection: dict[str, Any] = {"from": str(src), "to": str(dst)}
        if gain_db:
            connection["gain_db"] = float(gain_db)
        if port != "main":
            connection["port"] = port
        self.data["connections"].append(connection)
        self._invalidate()

    def automate(
        self,
        node: str,
        param: str,
        values: Any,
        *,
        hop: int | None = None,
        start: int = 0,
    ) -> None:
        """Drive ``param`` of ``node`` from breakpoints or a NumPy array.

        Args:
            node: the node id.
            param: a declared (automatable) parameter.
            values: breakpoints ``[[time_s, value, curve], ...]`` (kept in the exported
                config), or a 1-D array with one value per ``hop`` samples (``hop=1``:
                audio rate; arrays stay in Python and are not exported).
            hop: samples per array value; required for arrays.
            start: absolute sample of the first array value.

        Raises:
            ConfigError: unknown node or parameter, or malformed points.
        """
        entry = self.data["nodes"].get(node)
        if entry is None:
            raise _error(
                f"nodes.{node}", f"no node {node!r}", did_you_mean(node, list(self.data["nodes"]))
            )
        if hop is None:
            entry.setdefault("automation", {})[param] = [
                dict(p) if isinstance(p, Mapping) else list(p) for p in values
            ]
            self._check()
        else:
            specs = [s.name for s in self.registry[entry["type"]].param_specs()]
            if param not in specs:
                raise _error(
                    f"nodes.{node}.automation.{param}",
                    f"{param!r} is not an automatable parameter",
                    did_you_mean(param, specs),
                )
            try:
                self._lanes.setdefault(node, []).append(
                    Lane.from_array(param, values, hop=hop, start=start)
                )
            except ValueError as err:
                raise _error(f"nodes.{node}.automation.{param}", str(err)) from err
        self._invalidate()

    def _fresh_id(self, type: str) -> str:
        n = 1
        while f"{type}{n}" in self.data["nodes"]:
            n += 1
        return f"{type}{n}"

    # -- export -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The config document (a deep copy)."""
        return copy.deepcopy(self.data)

    def to_yaml(self) -> str:
        """The graph as a YAML config."""
        return yaml.safe_dump(self.data, sort_keys=False)

    def to_json(self) -> str:
        """The graph as a JSON config."""
        return json.dumps(self.data, indent=2)

    def save(self, path: str | Path) -> None:
        """Write the config (.json → JSON, anything else → YAML)."""
        target = Path(path)
        target.write_text(
            self.to_json() if target.suffix == ".json" else self.to_yaml(), encoding="utf-8"
        )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        registry: Mapping[str, NodeType] | None = None,
        base_dir: str | Path = ".",
    ) -> Graph:
        """A graph from a config document (validated).

        Raises:
            ConfigError: every problem in the document.
        """
        graph = cls(
            int(data.get("sample_rate", 48_000)),
            int(data.get("block_size", 512)),
            registry=registry,
            base_dir=base_dir,
        )
        graph.data = copy.deepcopy(dict(data))
        graph._check()
        return graph

    @classmethod
    def load(cls, path: str | Path, *, registry: Mapping[str, NodeType] | None = None) -> Graph:
        """A graph from a YAML or JSON config file.

        Raises:
            ConfigError: every problem in the file.
        """
        config = load_config(path, registry=registry)
        return cls.from_dict(config.data, registry=registry, base_dir=config.base_dir)

    # -- running ------------------------------------------------------------------------------

    def config(self, **overrides: Any) -> GraphConfig:
        """Validate the whole graph into a :class:`GraphConfig`.

        Raises:
            ConfigError: every problem found.
        """
        doc = ParsedDocument({**self.data, **overrides}, "<graph>")
        return validate_config_data(doc, registry=self.registry, base_dir=self.base_dir)

    def _check(self) -> None:
        self.config()

    def _plan(self, config: GraphConfig) -> Plan:
        plan = build_plan(config, self.registry)
        for node_id, lanes in self._lanes.items():
            plan.node(node_id).lanes.extend(
                Lane(lane.param, lane.samples, lane.values) for lane in lanes
            )
        return plan

    def render(self, seconds: float) -> dict[str, Audio]:
        """Render ``seconds`` into memory: output id → (channels, frames) float32."""
        config = self.config(duration=seconds)
        plan = self._plan(config)
        try:
            return _run_to_memory(plan, round(seconds * config.sample_rate))
        finally:
            plan.close()

    def process(self, block: npt.ArrayLike | int, input: str | None = None) -> dict[str, Audio]:
        """[main-thread] Stream one block: feed ``block`` to the ``input`` node, return outputs.

        Args:
            block: (channels, frames) audio for the input node, or a frame count when the
                graph has no input.
            input: which ``input`` node to feed (default: the only one).

        Returns:
            Output id → a copy of the (channels, frames) block that reached it.
        """
        stream = self._live
        if stream is None:
            stream = self._live = _Stream(self._plan(self.config()))
        if isinstance(block, (int, np.integer)):
            frames = int(block)
            source = None
        else:
            audio = np.ascontiguousarray(block, np.float32)
            frames = audio.shape[-1]
            source = stream.input(input)
        if frames > stream.block_size:
            raise ValueError(f"block of {frames} frames exceeds block_size {stream.block_size}")
        if source is not None:
            mono_1d = audio.ndim == 1 and source.channels == 1
            if audio.shape != (source.channels, frames) and not mono_1d:
                raise ValueError(
                    f"this input takes ({source.channels}, frames) blocks, got shape {audio.shape}"
                )
            source.feed(audio.reshape(source.channels, frames))
        stream.engine.process_block(frames)
        outputs = {sink_id: buf[:, :frames].copy() for sink_id, buf in stream.sinks}
        for proc in stream.sink_procs:  # the block is returned, not kept for a file
            proc.reset()
        return outputs

    def close(self) -> None:
        """Stop streaming and release workers or native handles."""
        self._invalidate()

    def _invalidate(self) -> None:
        if self._live is not None:
            self._live.plan.close()
            self._live = None


def _error(path: str, message: str, hint: str = "") -> ConfigError:
    return ConfigError([Problem("<graph>", 0, path, message, hint)])


class _Stream:
    """A running plan for :meth:`Graph.process`, with what every block needs looked up once.

    At 128 frames a block of a typical chain costs ~15 µs, so finding the input node and
    the outputs' buffers per call would be a noticeable share of it.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.engine = Engine(plan)
        self.block_size = plan.block_size
        self.inputs = {n.id: n.proc for n in plan.nodes if isinstance(n.proc, InputSource)}
        sinks = plan.sinks()
        self.sinks = [(n.id, _sink_input(plan, n.id, plan.block_size)) for n in sinks]
        self.sink_procs = [n.proc for n in sinks]

    def input(self, node_id: str | None) -> InputSource:
        """The ``input`` node to feed: ``node_id``, or the only one."""
        if node_id is None:
            if len(self.inputs) != 1:
                raise ValueError(f"graph has {len(self.inputs)} input nodes; name one with input=")
            return next(iter(self.inputs.values()))
        source = self.inputs.get(node_id)
        if source is None:
            raise ValueError(f"{node_id!r} is not an input node (inputs: {sorted(self.inputs)})")
        return source


def _sink_input(plan: Plan, sink_id: str, frames: int) -> Audio:
    node = plan.node(sink_id)
    source = plan.nodes[node.direct].out_buf if node.direct >= 0 else node.in_buf
    return source[:, :frames]


def _run_to_memory(plan: Plan, total: int) -> dict[str, Audio]:
    engine = Engine(plan)
    outputs = {s.id: np.zeros((s.channels_in, total), np.float32) for s in plan.sinks()}
    done = 0
    while done < total:
        frames = min(plan.block_size, total - done)
        engine.process_block(frames)
        for sink_id, audio in outputs.items():
            audio[:, done : done + frames] = _sink_input(plan, sink_id, frames)
        done += frames
    return outputs


def render(
    graph: Graph | GraphConfig | str | Path, seconds: float | None = None
) -> dict[str, Audio]:
    """Render a graph, a validated config or a config file into memory.

    Returns:
        Output id → (channels, frames) float32 array; nothing is written to disk.

    Raises:
        ConfigError: the graph is invalid.
        GraphError: it cannot be built or has no length.
    """
    if isinstance(graph, Graph):
        if seconds is None:
            raise ValueError("render(graph, seconds): seconds is required for a Graph")
        return graph.render(seconds)
    from .plugins import default_registry

    registry = default_registry()
    config = graph if isinstance(graph, GraphConfig) else load_config(graph, registry=registry)
    result = render_config(config, registry, out_dir=None, duration=seconds, capture=True)
    return result.captured
