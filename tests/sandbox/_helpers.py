"""Sandbox test helpers: build plugins from source, run blocks, watch side effects."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from aers_host._nodetype import CheckContext
from aers_host.plugins import VerifiedPlugin
from aers_host.plugins._model import ManifestParam
from aers_host.sandbox import load_python_plugin

RATE = 48_000
BLOCK = 256
#: Short limits so hostile tests finish quickly (deadline tests set their own, shorter).
FAST = {"deadline_ms": 100.0, "hang_timeout_ms": 150.0, "start_timeout_s": 10.0}


def plugin(
    source: str, params: tuple[Mapping[str, Any], ...] = (), name: str = "t"
) -> VerifiedPlugin:
    """A verified plugin from (dedented) source; the class must be called P."""
    return VerifiedPlugin(
        name,
        "1.0.0",
        "python",
        "p.py:P",
        "sandbox",
        {"p.py": textwrap.dedent(source).encode()},
        params=tuple(ManifestParam.from_dict(p, f"params.{i}") for i, p in enumerate(params)),
        keyid="k1",
    )


GAIN_SPEC = ({"name": "gain", "default": 0.5, "min": 0.0, "max": 2.0},)


def writing(expression: str) -> str:
    """Source of a plugin whose process() does ``out[:] = <expression>``."""
    return (
        "import numpy as np\n\nclass P:\n"
        "    def process(self, inp, out, start, events):\n"
        f"        out[:] = {expression}\n"
    )


#: A gain plugin (needs ``GAIN_SPEC``).
GAIN = writing("inp * self.params['gain']")
PASS = writing("inp")


def process_body(body: str) -> str:
    """Source of a plugin whose process() runs ``body`` then passes audio through."""
    lines = "".join(f"        {line}\n" for line in textwrap.dedent(body).splitlines())
    return (
        "import math\nimport numpy as np\n\nclass P:\n"
        "    def process(self, inp, out, start, events):\n"
        f"{lines}"
        "        out[:] = inp\n"
    )


def make(
    source: str,
    isolation: str = "sandbox",
    params: Mapping[str, Any] | None = None,
    specs: tuple[Mapping[str, Any], ...] = (),
    **options: Any,
) -> Any:
    ctx = CheckContext(
        RATE,
        BLOCK,
        Path("."),
        node_id="n1",
        node_options={"isolation": isolation, **FAST, **options},
    )
    return load_python_plugin(plugin(source, specs), params or {}, ctx)


def signal_block(start: int, channels: int = 2, frames: int = BLOCK) -> np.ndarray:
    """A recognisable input: a ramp offset by the block's start sample."""
    ramp = (np.arange(frames, dtype=np.float32) + start % 1000) / 1000.0
    return np.tile(ramp, (channels, 1))


def run(proc: Any, blocks: int, first: int = 0) -> list[np.ndarray]:
    """Process ``blocks`` blocks; return each output (copies)."""
    outs = []
    for i in range(first, first + blocks):
        inp = signal_block(i * BLOCK)
        out = np.full_like(inp, -7.0)
        proc.process(inp, out, i * BLOCK, ())
        outs.append(out.copy())
    return outs


class Neighbour:
    """A trusted node processed beside the hostile one: it must keep working."""

    def __init__(self) -> None:
        self.blocks = 0

    def process(self, inp: np.ndarray, out: np.ndarray) -> None:
        np.multiply(inp, 0.5, out=out)
        self.blocks += 1


def listing(*dirs: Path) -> set[str]:
    return {str(p) for d in dirs for p in d.rglob("*")}


def shm_segments_of(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"aers-{pid}-")]
