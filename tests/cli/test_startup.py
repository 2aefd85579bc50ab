"""Start-up stays lean: which modules `aers --help`, `validate` and `graph` must not import.

Each command runs as a fresh process (the only honest way to see what it imports); the
child reports ``sys.modules`` when the command has finished. No timing here: the start-up
times themselves are measured by benchmarks/bench_startup.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_extras import ALL_EXTRAS  # same folder: pytest imports both by file name

#: Packages that only some commands need (JIT, filters, and every extra's stack).
HEAVY = ("numba", "llvmlite", "scipy", *ALL_EXTRAS)

#: What `--help` and `--version` must not load either: no command module, no config stack.
NOT_FOR_HELP = (
    *HEAVY,
    "numpy",
    "jsonschema",
    "yaml",
    "cryptography",
    "aers_host.config",
    "aers_host.plugins",
    "aers_host.cli._graph",
    "aers_host.cli._plugin",
    # typer's rich help imports these at module level but never uses them here:
    "markdown_it",
    "pygments",
    "rich.markdown",
    "rich.traceback",
)

REPORT = """
import json, sys
sys.argv = ["aers", *json.loads(sys.argv[1])]
from aers_host.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

#: Every built-in node family: sources (a file too), DSP, dynamics, events with a generator.
CONFIG = """
    sample_rate: 48000
    block_size: 256
    duration: 0.5
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      hiss: {type: noise, params: {color: pink, level_db: -30}}
      clip: {type: file, params: {path: clip.wav}}
      scene: {type: events}
      eq1: {type: eq, params: {bands: [{type: peak, freq: 1000, gain_db: 3, q: 1.0}]}}
      dly: {type: delay, params: {ms: 20, feedback: 0.3, mix: 0.25}}
      comp: {type: compressor, params: {threshold_db: -18, ratio: 4}}
      verb: {type: reverb}
      bus: {type: mix}
      lim: {type: limiter}
      main: {type: output, params: {path: main.wav}}
    connections:
      - {from: tone, to: eq1}
      - {from: hiss, to: bus}
      - {from: clip, to: bus}
      - {from: scene, to: bus}
      - {from: eq1, to: dly}
      - {from: dly, to: comp}
      - {from: comp, to: verb}
      - {from: verb, to: bus}
      - {from: bus, to: lim}
      - {from: lim, to: main}
    events:
      - {id: step, category: footsteps, at: 0, to: scene, source: {generator: footsteps, seed: 1}}
"""

REMOTE_NODE = '  far: {type: remote, params: {url: "ws://127.0.0.1:9", token_env: AERS_TEST_TOKEN}}\n'


def imports_of(*args: str | Path, cwd: Path) -> tuple[int, set[str], str]:
    """Run `aers ARGS` in a fresh interpreter: exit code, every module it imported, output."""
    env = {**os.environ, "AERS_TEST_TOKEN": "x" * 32}
    proc = subprocess.run(
        [sys.executable, "-c", REPORT, json.dumps([str(a) for a in args])],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    report = json.loads(line.removeprefix("MODULES "))
    return report["code"], set(report["modules"]), proc.stdout + proc.stderr


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (packages or modules) are among ``modules``."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


@pytest.fixture
def config(tmp_path: Path, aers_home: Path) -> Path:
    sf.write(tmp_path / "clip.wav", np.zeros((4800, 2), np.float32), 48000, subtype="FLOAT")
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["-V"]])
def test_help_and_version_import_no_command(args: list[str], tmp_path: Path) -> None:
    code, modules, output = imports_of(*args, cwd=tmp_path)
    assert code == 0, output
    assert loaded(modules, NOT_FOR_HELP) == []


@pytest.mark.parametrize("args", [["--version"], ["-V"]])
def test_version_alone_is_answered_before_the_cli_loads(args: list[str], tmp_path: Path) -> None:
    code, modules, output = imports_of(*args, cwd=tmp_path)
    assert code == 0 and output.startswith("aers "), output
    assert loaded(modules, ("typer", "rich", "aers_host.cli._app")) == []


def test_version_with_a_command_is_typers_eager_option(tmp_path: Path) -> None:
    code, modules, output = imports_of("-V", "validate", "none.yaml", cwd=tmp_path)
    alone = imports_of("-V", cwd=tmp_path)[2]
    assert code == 0 and output.splitlines()[0] == alone.splitlines()[0], output
    assert "typer" in modules


def test_validate_needs_no_compiled_dsp_nor_extras(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace("  lim: {type: limiter}\n", "  lim: {type: limiter}\n" + REMOTE_NODE)
    text = text.replace("- {from: lim, to: main}", "- {from: lim, to: far}\n  - {from: far, to: main}")
    config.write_text(text, encoding="utf-8")
    code, modules, output = imports_of("validate", config, cwd=config.parent)
    assert code == 0, output
    assert "aers_host.remote._client" in modules  # the remote type was checked…
    assert loaded(modules, HEAVY) == []  # …without websockets, numba or scipy
    assert loaded(modules, ("numpy.random",)) == []  # ~20 ms that only generating needs
    assert loaded(modules, ("cryptography.hazmat.primitives.serialization",)) == []  # signing


def test_graph_needs_no_compiled_dsp_nor_extras(config: Path) -> None:
    code, modules, output = imports_of("graph", config, cwd=config.parent)
    assert code == 0, output
    assert "aers_host.graph._plan" in modules
    assert loaded(modules, HEAVY) == []
