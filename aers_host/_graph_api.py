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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from ._automation import Lane
from ._builtins import default_registry, load_config
from ._features import LogsSubstitutions
from ._hints import did_you_mean
from ._nodetype import NodeType
from ._timing import OFFLINE, REALTIME, Timing
from .config import GraphConfig, ParsedDocument, validate_config_data
from .config._model import NODE_OPTION_KEYS
from .config._schema import config_schema, join_path, non_finite_paths, schema_problems
from .errors import ConfigError, Problem
from .graph import Engine, Plan, build_plan, check_fallback, substitution_report
from .graph import render as render_config
from .graph._branches import resolve_threads
from .graph._input import InputSource

Audio = npt.NDArray[np.float32]
#: A whole number, Python's or NumPy's.
Whole = int | np.integer[Any]
#: A number, Python's or NumPy's (NumPy scalars are stored as Python numbers).
Number = float | np.integer[Any] | np.floating[Any]


#: Keywords of :meth:`Graph.add` that are node options, not parameters: the config's
#: node options (automation has its own method, :meth:`Graph.automate`).
_OPTIONS = tuple(key for key in NODE_OPTION_KEYS if key != "automation")


class Node(str):
    """A node id returned by :meth:`Graph.add`; usable wherever an id is expected."""

    __slots__ = ()


class Graph:
    """A routing graph built in code.

    Args:
        sample_rate: in Hz, a whole number from 8000 to 192000.
        block_size: frames per block (32…8192).
        registry: node types to accept (default: built-ins, entry points, the store).
    """

    def __init__(
        self,
        sample_rate: Whole = 48_000,
        block_size: Whole = 512,
        *,
        registry: Mapping[str, NodeType] | None = None,
        base_dir: str | Path = ".",
    ) -> None:
        if registry is None:
            registry = default_registry()
        self.registry = registry
        self.base_dir = Path(base_dir)
        self.data: dict[str, Any] = {
            "version": 1,
            "sample_rate": _plain(sample_rate, "sample_rate"),
            "block_size": _plain(block_size, "block_size"),
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
        node_id = str(id) if id else self._fresh_id(type)
        if node_id in self.data["nodes"]:
            raise _error(f"nodes.{node_id}", f"duplicate node id {node_id!r}")
        options: dict[str, Any] = {k: params.pop(k) for k in _OPTIONS if k in params}
        options = _plain(options, f"nodes.{node_id}")
        params = _plain(params, f"nodes.{node_id}.params")
        problems = schema_problems(
            {"type": str(type), **options},
            _definition("node"),
            file="<graph>",
            base=f"nodes.{node_id}",
            line_of=lambda _: 0,
        )
        problems += schema_problems(
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
        entry: dict[str, Any] = {"type": str(type), **options}
        if params:
            entry["params"] = params
        self.data["nodes"][node_id] = entry
        self._invalidate()
        return Node(node_id)

    def connect(self, src: str, dst: str, *, gain_db: Number = 0.0, port: str = "main") -> None:
        """Connect ``src``'s output to ``dst``'s input (``port="sidechain"`` for a key input).

        Raises:
            ConfigError: either end is not a node of this graph, or a bad ``gain_db``
                (a number from -120 to 24) or ``port``.
        """
        base = f"connections.{len(self.data['connections'])}"
        for end, node_id in (("from", src), ("to", dst)):
            if not isinstance(node_id, str) or node_id not in self.data["nodes"]:
                raise _error(
                    f"{base}.{end}",
                    f"connection {end} missing node {node_id!r}",
                    did_you_mean(str(node_id), list(self.data["nodes"])),
                )
        connection: dict[str, Any] = {"from": str(src), "to": str(dst)}
        gain = _plain(gain_db, f"{base}.gain_db")
        if _is_number(gain):
            gain = float(gain)
        if gain != 0.0 or not _is_number(gain):
            connection["gain_db"] = gain
        port = _plain(port, f"{base}.port")
        if port != "main":
            connection["port"] = port
        problems = schema_problems(
            connection, _definition("connection"), file="<graph>", base=base, line_of=lambda _: 0
        )
        problems += [
            Problem("<graph>", 0, path, "must be a finite number (NaN and infinity are not)")
            for path in non_finite_paths(connection, base)
        ]
        if problems:
            raise ConfigError(problems)
        self.data["connections"].append(connection)
        self._invalidate()

    def automate(
        self,
        node: str,
        param: str,
        values: Any,
        *,
        hop: Whole | None = None,
        start: Whole = 0,
    ) -> None:
        """Drive ``param`` of ``node`` from breakpoints or a NumPy array.

        A call that raises changes nothing: the graph keeps its earlier automation.

        Args:
            node: the node id.
            param: a declared (automatable) parameter.
            values: breakpoints ``[[time_s, value, curve], ...]`` (kept in the exported
                config), or a 1-D array with one value per ``hop`` samples (``hop=1``:
                audio rate). Arrays stay in Python: they cannot be exported, so
                :meth:`to_dict`, :meth:`to_yaml`, :meth:`to_json` and :meth:`save` refuse
                a graph that has them unless told to drop them.
            hop: samples per array value; required for arrays.
            start: absolute sample of the first array value.

        Raises:
            ConfigError: unknown node or parameter, or malformed points, array, ``hop``
                or ``start``.
        """
        entry = self.data["nodes"].get(node) if isinstance(node, str) else None
        if entry is None:
            raise _error(
                f"nodes.{node}",
                f"no node {node!r}",
                did_you_mean(str(node), list(self.data["nodes"])),
            )
        path = f"nodes.{node}.automation.{param}"
        if not isinstance(param, str):
            raise _error(path, f"parameter name must be a string, got {type(param).__name__}")
        param = str(param)
        if hop is None:
            points = _breakpoints(values, path)
            lanes = entry.get("automation")
            lanes = {**(lanes if isinstance(lanes, dict) else {}), param: points}
            self._check_automation(node, {**entry, "automation": lanes})
            entry["automation"] = lanes
        else:
            lane = self._array_lane(entry["type"], path, param, values, hop, start)
            self._lanes.setdefault(node, []).append(lane)
        self._invalidate()

    def _check_automation(self, node_id: str, entry: dict[str, Any]) -> None:
        """Raise the problems of ``entry``'s automation as the config validator sees them.

        Only the node's automation is judged (the graph around it may still be half
        built: the whole graph is checked when it is rendered).
        """
        doc = {k: v for k, v in self.data.items() if k not in ("nodes", "connections")}
        doc.update(nodes={node_id: entry}, connections=[])
        try:
            validate_config_data(
                ParsedDocument(doc, "<graph>"), registry=self.registry, base_dir=self.base_dir
            )
        except ConfigError as err:
            prefix = f"nodes.{node_id}.automation"
            problems = [
                p for p in err.problems if p.path == prefix or p.path.startswith(prefix + ".")
            ]
            if problems:
                raise ConfigError(problems) from None

    def _array_lane(
        self, type: str, path: str, param: str, values: Any, hop: Any, start: Any
    ) -> Lane:
        """A checked lane from array automation (nothing is stored here)."""
        specs = [spec.name for spec in self.registry[type].param_specs()]
        if param not in specs:
            raise _error(
                path, f"{param!r} is not an automatable parameter", did_you_mean(param, specs)
            )
        for name, number, least in (("hop", hop, 1), ("start", start, 0)):
            whole = isinstance(number, (int, np.integer)) and not isinstance(number, bool)
            if not whole or int(number) < least:
                raise _error(path, f"{name} must be a whole number of samples >= {least}")
        try:
            return Lane.from_array(param, values, hop=int(hop), start=int(start))
        except (ValueError, TypeError) as err:
            raise _error(path, str(err) or "automation values must be a finite 1-D array") from err

    def _fresh_id(self, type: str) -> str:
        n = 1
        while f"{type}{n}" in self.data["nodes"]:
            n += 1
        return f"{type}{n}"

    # -- export -------------------------------------------------------------------------------

    def to_dict(self, *, drop_arrays: bool = False) -> dict[str, Any]:
        """The config document (a deep copy).

        Args:
            drop_arrays: leave out NumPy-array automation (which a config cannot hold)
                instead of refusing a graph that has it.

        Raises:
            ConfigError: the graph has array automation and ``drop_arrays`` is false (the
                exported config would render differently from this graph).
        """
        if any(self._lanes.values()) and not drop_arrays:
            lanes = [
                f"nodes.{node}.automation.{lane.param}"
                for node, node_lanes in self._lanes.items()
                for lane in node_lanes
            ]
            raise ConfigError(
                [
                    Problem(
                        "<graph>",
                        0,
                        path,
                        "NumPy-array automation cannot be exported to a config",
                        "use breakpoints to keep it, or pass drop_arrays=True to export "
                        "the graph without it",
                    )
                    for path in dict.fromkeys(lanes)
                ]
            )
        return copy.deepcopy(self.data)

    def to_yaml(self, *, drop_arrays: bool = False) -> str:
        """The graph as a YAML config (``drop_arrays`` and errors: :meth:`to_dict`)."""
        return yaml.safe_dump(self.to_dict(drop_arrays=drop_arrays), sort_keys=False)

    def to_json(self, *, drop_arrays: bool = False) -> str:
        """The graph as a JSON config (``drop_arrays`` and errors: :meth:`to_dict`)."""
        return json.dumps(self.to_dict(drop_arrays=drop_arrays), indent=2, allow_nan=False)

    def save(self, path: str | Path, *, drop_arrays: bool = False) -> None:
        """Write the config (.json → JSON, anything else → YAML).

        The folder must exist (it is not created, so a mistyped folder name fails here
        rather than scattering files). Nothing is written when the graph cannot be
        exported.

        Raises:
            ConfigError: the file cannot be written (naming it), or the graph has array
                automation and ``drop_arrays`` is false (see :meth:`to_dict`).
        """
        target = Path(path)
        text = (
            self.to_json(drop_arrays=drop_arrays)
            if target.suffix == ".json"
            else self.to_yaml(drop_arrays=drop_arrays)
        )
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as err:
            hint = "create the folder first" if not target.parent.is_dir() else ""
            raise ConfigError(
                [Problem(str(path), 0, "", f"cannot write config: {err.strerror or err}", hint)]
            ) from err

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        registry: Mapping[str, NodeType] | None = None,
        base_dir: str | Path = ".",
    ) -> Graph:
        """A graph from a config document (validated; NumPy scalars become numbers).

        Raises:
            ConfigError: every problem in the document.
        """
        if not isinstance(data, Mapping):
            raise _error("", f"config must be a mapping, got {type(data).__name__}")
        graph = cls(registry=registry, base_dir=base_dir)
        graph.data = _plain(data, "")  # a copy, NumPy scalars as Python numbers
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

    def _plan(self, config: GraphConfig, timing: Timing = OFFLINE) -> Plan:
        plan = build_plan(config, self.registry, timing=timing)
        for node_id, lanes in self._lanes.items():
            plan.node(node_id).lanes.extend(
                Lane(lane.param, lane.samples, lane.values) for lane in lanes
            )
        return plan

    def render(
        self,
        seconds: float,
        *,
        allow_fallback: bool = False,
        hang_limit: float | None = None,
        threads: int | str | None = None,
    ) -> dict[str, Audio]:
        """Render ``seconds`` into memory: output id → (channels, frames) float32.

        Offline timing: every sandboxed and remote node's result is waited for, so the
        audio does not depend on machine load or block size.

        Args:
            seconds: how much to render.
            allow_fallback: return the audio even if a node played its fallback.
            hang_limit: seconds one block may take before its node counts as hung
                (restart, one retry, then fallback); default 10, a node's
                ``hang_limit_s`` option wins.
            threads: most threads for independent branches: an int, ``"auto"``, or None
                for the config's ``threads`` (docs/config.md, "Threads"); the audio is
                the same whatever the setting.

        Raises:
            ConfigError: the graph is invalid.
            GraphError: it cannot be built, or ``threads`` is out of range.
            FallbackAudioError: a node played fallback audio and ``allow_fallback`` is
                False (its ``result`` is None; render with ``allow_fallback=True`` to keep
                the audio).
        """
        config = self.config(duration=seconds)
        count = resolve_threads(config.threads if threads is None else threads)
        plan = self._plan(config, Timing(realtime=False, hang_limit_s=hang_limit))
        try:
            audio = _run_to_memory(plan, round(seconds * config.sample_rate), count)
            check_fallback(plan, substitution_report(plan), allowed=allow_fallback)
            return audio
        finally:
            plan.close()

    def process(
        self,
        block: npt.ArrayLike | int,
        input: str | None = None,
        *,
        realtime: bool = False,
        allow_fallback: bool = False,
    ) -> dict[str, Audio]:
        """[main-thread] Stream one block: feed ``block`` to the ``input`` node, return outputs.

        Args:
            block: (channels, frames) audio for the input node, or a frame count when the
                graph has no input.
            input: which ``input`` node to feed (default: the only one).
            realtime: False (default): offline timing, every node's result is waited for
                (hang limit 10 s). True: real-time deadlines, late blocks play the node's
                fallback (for callers pacing blocks to an audio device). Changing it
                re-plans the graph.
            allow_fallback: offline only: return a block in which a node played its
                fallback instead of raising.

        Returns:
            Output id → a copy of the (channels, frames) block that reached it.

        Raises:
            FallbackAudioError: offline, a node played fallback audio in this block and
                ``allow_fallback`` is False.
        """
        stream = self._live
        if stream is not None and stream.plan.timing.realtime != realtime:
            self._invalidate()
            stream = None
        if stream is None:
            timing = REALTIME if realtime else OFFLINE
            stream = self._live = _Stream(self._plan(self.config(), timing))
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
        if not realtime and not allow_fallback:
            blocks = _substituted_blocks(stream.plan)
            if blocks > stream.substituted_blocks:
                stream.substituted_blocks = blocks
                check_fallback(stream.plan, substitution_report(stream.plan), allowed=False)
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


def _definition(name: str) -> dict[str, Any]:
    """The config schema's ``$defs`` entry ``name``, standalone (its refs resolve)."""
    defs = config_schema()["$defs"]
    return {**defs[name], "$defs": defs}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any, path: str) -> Any:
    """``value`` as plain config data, all the way down.

    NumPy scalars become the Python numbers they equal, tuples become lists and str
    subclasses plain strings.

    Raises:
        ConfigError: something a config cannot hold (an array, a set, an object, a
            non-string key), naming its path.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _error(
                    join_path(path, repr(key)),
                    f"keys must be strings, got {type(key).__name__}",
                )
            out[str(key)] = _plain(item, join_path(path, key))
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, join_path(path, index)) for index, item in enumerate(value)]
    hint = "convert it with .tolist()" if isinstance(value, np.ndarray) else ""
    raise _error(
        path,
        "must be a number, string, boolean, list or mapping, "
        f"got {type(value).__module__}.{type(value).__qualname__}",
        hint,
    )


def _breakpoints(values: Any, path: str) -> list[Any]:
    """Breakpoints as plain lists/mappings (a 2-D array is taken as rows of points)."""
    if isinstance(values, np.ndarray):
        if values.ndim != 2:
            raise _error(
                path,
                f"a {values.ndim}-D array is not a list of breakpoints",
                "give hop= (samples per value) to automate from an array",
            )
        values = values.tolist()
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise _error(
            path,
            f"must be a list of [time_s, value, curve] points, got {type(values).__name__}",
        )
    points = [p.tolist() if isinstance(p, np.ndarray) else p for p in values]
    result: list[Any] = _plain(points, path)
    return result


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
        #: Substituted blocks already reported (offline streams raise once per new one).
        self.substituted_blocks = 0

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
    source = plan.input_of(node)
    return source[:, :frames]


def _substituted_blocks(plan: Plan) -> int:
    """Blocks, over all nodes, that played a fallback so far (cheap: counters only)."""
    total = 0
    for node in plan.nodes:
        own = node.proc.substitutions.blocks if isinstance(node.proc, LogsSubstitutions) else 0
        total += node.substituted.blocks + own
    return total


def _run_to_memory(plan: Plan, total: int, threads: int | None = 1) -> dict[str, Audio]:
    engine = Engine(plan, threads=threads)
    try:
        outputs = {s.id: np.zeros((s.channels_in, total), np.float32) for s in plan.sinks()}
        done = 0
        while done < total:
            frames = min(plan.block_size, total - done)
            engine.process_block(frames)
            for sink_id, audio in outputs.items():
                audio[:, done : done + frames] = _sink_input(plan, sink_id, frames)
            done += frames
        return outputs
    finally:
        engine.close()


def render(
    graph: Graph | GraphConfig | str | Path,
    seconds: float | None = None,
    *,
    allow_fallback: bool = False,
    hang_limit: float | None = None,
    threads: int | str | None = None,
) -> dict[str, Audio]:
    """Render a graph, a validated config or a config file into memory, offline.

    Offline timing waits for every sandboxed and remote node, so the result does not
    depend on machine load or block size (see ``docs/architecture.md``, *Timing modes*).

    Args:
        graph: what to render.
        seconds: how long (required for a :class:`Graph`; else the config's length).
        allow_fallback: return the audio even if a node played its fallback.
        hang_limit: seconds one block may take before its node counts as hung (its
            worker is restarted and the block retried once); default 10 s, a node's
            ``hang_limit_s`` option wins.
        threads: most threads for independent branches: an int, ``"auto"``, or None for
            the config's ``threads`` (default auto; docs/config.md, "Threads"). The audio
            is bit for bit the same whatever the setting.

    Returns:
        Output id → (channels, frames) float32 array; nothing is written to disk.

    Raises:
        ConfigError: the graph is invalid.
        GraphError: it cannot be built, has no length, or ``threads`` is out of range.
        FallbackAudioError: a node played fallback audio (one line per node) and
            ``allow_fallback`` is False.
    """
    if isinstance(graph, Graph):
        if seconds is None:
            raise ValueError("render(graph, seconds): seconds is required for a Graph")
        return graph.render(
            seconds, allow_fallback=allow_fallback, hang_limit=hang_limit, threads=threads
        )
    registry = default_registry()
    config = graph if isinstance(graph, GraphConfig) else load_config(graph, registry=registry)
    result = render_config(
        config,
        registry,
        out_dir=None,
        duration=seconds,
        capture=True,
        timing=Timing(realtime=False, hang_limit_s=hang_limit),
        threads=threads,
    )
    check_fallback(result.plan, result.substituted, allowed=allow_fallback, result=result)
    return result.captured
