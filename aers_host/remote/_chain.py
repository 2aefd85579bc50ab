"""The processor chain a remote node runs: validated like a config, run like the engine.

A chain is a config fragment, a list of ``{type, params}`` items. Each item is checked
against the node type's own params schema and semantic checks (the same ones ``aers
validate`` applies), must be a ``processor`` (no sources or sinks) and may not itself be
``remote`` (no node-to-node relays). The node types come from the serving host's registry:
built-ins and the plugins installed (and verified) there.

Example:
    >>> from aers_host import default_registry
    >>> chain = Chain.build([{"type": "gain", "params": {"gain_db": -6}}],
    ...                     default_registry(entry_points=False, store=False), 48000, 64, 2)
    >>> chain.channels_out, chain.latency_samples
    (2, 0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from .._features import close_if_held
from .._nodetype import ChannelError, CheckContext, NodeType
from .._processor import Buffer, Processor
from ..config._schema import schema_problems

#: Longest chain a node builds.
MAX_CHAIN: int = 32


class ChainError(Exception):
    """A chain that cannot be built; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


#: The remote node type's name (``remote.REMOTE``): a chain cannot nest one.
REMOTE_NAME: Final = "remote"


def chain_shape_problems(chain: Any, where: str = "chain") -> list[str]:
    """Structural problems of a chain fragment (no registry needed)."""
    if not isinstance(chain, list):
        return [f"{where} must be a list of {{type, params}} items"]
    if len(chain) > MAX_CHAIN:
        return [f"{where} has {len(chain)} items, over the limit of {MAX_CHAIN}"]
    problems = []
    for i, item in enumerate(chain):
        path = f"{where}.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            problems.append(f"{path}: each item needs a string `type`")
            continue
        unknown = set(item) - {"type", "params"}
        if unknown:
            problems.append(f"{path}: unknown keys {sorted(unknown)} (allowed: type, params)")
        if not isinstance(item.get("params", {}), dict):
            problems.append(f"{path}.params: must be a mapping")
        if item["type"] == REMOTE_NAME:
            problems.append(f"{path}: a remote chain cannot contain another remote node")
    return problems


@dataclass(slots=True)
class _Stage:
    proc: Processor
    out: Buffer


class Chain:
    """Prepared processors run one after the other on each block."""

    def __init__(
        self, stages: list[_Stage], channels_in: int, block_size: int, latency: int
    ) -> None:
        from .._denormals import FlushDenormals  # numba: only once a chain runs

        self._stages = stages
        self._flush = FlushDenormals()
        self.channels_in = channels_in
        self.block_size = block_size
        self.channels_out = stages[-1].out.shape[0] if stages else channels_in
        #: Sum of the stages' reported latencies.
        self.latency_samples = latency
        #: Stage blocks of NaN/Inf replaced before they left the node.
        self.nonfinite_blocks = 0
        from ..graph._kernels import all_finite, replace_nonfinite  # numba: node side only

        self._all_finite, self._replace_nonfinite = all_finite, replace_nonfinite

    @classmethod
    def build(
        cls,
        chain: Any,
        registry: Mapping[str, NodeType],
        sample_rate: int,
        block_size: int,
        channels: int,
    ) -> Chain:
        """Validate ``chain`` against ``registry``, then create and prepare every stage.

        Raises:
            ChainError: every problem found (unknown type, bad params, channel mismatch,
                a processor that fails to prepare).
        """
        problems = chain_shape_problems(chain)
        if problems:
            raise ChainError(problems)
        ctx = CheckContext(sample_rate=sample_rate, block_size=block_size, base_dir=Path.cwd())
        stages: list[_Stage] = []
        n_in, latency = channels, 0
        for i, item in enumerate(chain):
            where = f"chain.{i}"
            node_type = registry.get(item["type"])
            if node_type is None:
                problems.append(f"{where}: node type {item['type']!r} is not available here")
                continue
            if node_type.role != "processor":
                problems.append(f"{where}: {item['type']!r} is a {node_type.role}, not a processor")
                continue
            params = item.get("params", {})
            found = [
                str(p).removeprefix("<config>: ")
                for p in schema_problems(
                    params, node_type.params_schema(), file="", base=f"{where}.params",
                    line_of=lambda _path: 0,
                )
            ]  # fmt: skip
            found += [f"{where}.params.{p.path}: {p.message}" for p in node_type.check(params, ctx)]
            if found:
                problems += found
                continue
            try:
                n_out = node_type.output_channels(params, n_in, ctx)
                proc = node_type.create(params, ctx)
                proc.prepare(sample_rate, block_size, n_in)
            except ChannelError as err:
                problems.append(f"{where}: {err.message}")
                continue
            except (ValueError, OSError, RuntimeError, ArithmeticError) as err:
                problems.append(f"{where}: cannot prepare {item['type']!r}: {err}")
                continue
            stages.append(_Stage(proc, np.zeros((n_out, block_size), np.float32)))
            latency += int(proc.latency_samples)
            n_in = n_out
        if problems:
            raise ChainError(problems)
        return cls(stages, channels, block_size, latency)

    def process(self, inp: Buffer, start: int) -> Buffer:
        """[node-thread] Run the block through every stage; returns a view of the output.

        As in the engine, a stage's block of NaN/Inf is replaced where it appears (by its
        input when that is finite, else silence) and counted in :attr:`nonfinite_blocks`,
        so a RESULT frame never carries a non-finite sample.
        """
        frames = inp.shape[1]
        buf = inp
        saved = self._flush.enter()  # denormals to zero, as in the engine's block loop
        try:
            for stage in self._stages:
                out = stage.out[:, :frames]
                stage.proc.process(buf, out, start, ())
                if not self._all_finite(out):
                    self._replace_nonfinite(out, buf, True)
                    self.nonfinite_blocks += 1
                buf = out
        finally:
            self._flush.leave(saved)
        return buf

    def get_state(self) -> list[dict[str, Any]]:
        """[node-thread, between blocks] Every stage's state, in order (for sessions)."""
        return [stage.proc.get_state() for stage in self._stages]

    def set_state(self, states: Any) -> None:
        """[node-thread, between blocks] Restore what :meth:`get_state` returned.

        Raises:
            ChainError: not one state mapping per stage, or a stage refused its state.
        """
        if not isinstance(states, list) or len(states) != len(self._stages):
            raise ChainError([f"state must list {len(self._stages)} stage states"])
        for i, (stage, state) in enumerate(zip(self._stages, states, strict=True)):
            if not isinstance(state, dict):
                raise ChainError([f"chain.{i}: state must be a mapping"])
            try:
                stage.proc.set_state(state)
            except (ValueError, TypeError, KeyError) as err:
                raise ChainError([f"chain.{i}: state refused: {err}"]) from err

    def warm(self) -> None:
        """[main-thread] Run one silent block through every stage, then reset them all.

        The first call of a numba kernel loads (or compiles) it, which can take far longer
        than a block period; doing it before the node says HELLO keeps the first real
        blocks on time.
        """
        self.process(np.zeros((self.channels_in, self.block_size), np.float32), 0)
        for stage in self._stages:
            stage.proc.reset()

    def close(self) -> None:
        """Release stages that hold outside resources (sandbox workers, native handles)."""
        for stage in self._stages:
            close_if_held(stage.proc)
