"""Graph-level sandbox helpers: plugin node types in a registry, worker counting, plans."""

from __future__ import annotations

import dataclasses
import itertools
import os
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphs import builtin_registry

from aers_host._nodetype import NodeType
from aers_host.config import ParsedDocument, validate_config_data
from aers_host.graph import Engine, Plan, build_plan
from aers_host.plugins import StorePluginType, VerifiedPlugin

from ._helpers import plugin

#: Stateful: adds a ramp that grows by one step per block, so replayed or lost blocks show.
STEP = """
import numpy as np
class P:
    def prepare(self, sample_rate, max_block, channels):
        self.n = 0
    def process(self, inp, out, start, events):
        self.n = self.n + 1
        out[:] = inp * self.params['gain'] + 0.001 * self.n
    def get_state(self):
        return {"n": self.n}
    def set_state(self, state):
        self.n = state["n"]
"""
GAIN_SPEC = ({"name": "gain", "default": 0.9, "min": 0.0, "max": 2.0},)


def variant(base: VerifiedPlugin, **changes: Any) -> VerifiedPlugin:
    """``base`` with other fields (name, version, keyid)."""
    return dataclasses.replace(base, **changes)


def with_plugins(*plugins: VerifiedPlugin) -> dict[str, NodeType]:
    """The built-in node types plus one store node type per plugin."""
    return {**builtin_registry(), **{p.name: StorePluginType.of(p) for p in plugins}}


def step_plugin(name: str = "step", keyid: str = "k1") -> VerifiedPlugin:
    return variant(plugin(STEP, GAIN_SPEC, name=name), keyid=keyid)


def chain_config(
    types: list[str],
    reg: Mapping[str, NodeType],
    *,
    block: int = 256,
    extra: tuple[tuple[str, str], ...] = (),
    **options: Any,
) -> Any:
    """noise → p1 … pN (of ``types``) → out, plus ``extra`` edges; plugins get ``options``."""
    nodes: dict[str, Any] = {
        "src": {"type": "noise", "params": {"level_db": -6, "seed": 5, "channels": 2}},
        "out": {"type": "output"},
    }
    names = [f"p{k + 1}" for k in range(len(types))]
    for name, kind in zip(names, types, strict=True):
        nodes[name] = {"type": kind, **options}
    hops = ["src", *names, "out"]
    doc = {
        "version": 1, "sample_rate": 48_000, "block_size": block, "duration": 1.0,
        "nodes": nodes,
        "connections": [
            {"from": a, "to": b} for a, b in (*itertools.pairwise(hops), *extra)
        ],
    }  # fmt: skip
    return validate_config_data(ParsedDocument(doc, "<test>"), registry=reg, base_dir=Path("."))


@contextmanager
def planned(config: Any, reg: Mapping[str, NodeType]) -> Iterator[tuple[Plan, Engine]]:
    plan = build_plan(config, reg)
    try:
        yield plan, Engine(plan)
    finally:
        plan.close()


def step(plan: Plan, engine: Engine) -> None:
    """One block through the engine; sinks are drained so long runs never overflow them."""
    engine.process_block(plan.block_size)
    for sink in plan.sinks():
        sink.proc.take()  # type: ignore[attr-defined]


def worker_pids() -> set[int]:
    """Live (not zombie) sandbox worker processes that are children of this process."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    live = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if stat not in ("Z", "X") and b"aers_host.sandbox._worker" in cmdline:
            live.add(pid)
    return live


def own_segments() -> set[str]:
    """Shared-memory segments of this process's sandbox workers (their names hold our pid)."""
    return {name for name in os.listdir("/dev/shm") if f"-{os.getpid()}-" in name}


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
