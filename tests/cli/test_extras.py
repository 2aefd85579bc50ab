"""The lean install: without an extra, its commands refuse in one line; the rest still work.

No packages are uninstalled: each run is a fresh interpreter whose import system refuses
the extras' packages (a meta-path finder raising ``ModuleNotFoundError``, as a missing
package does), so the test sees exactly what a `pip install aers-host` without extras sees.
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

#: Every package the extras bring (serve, remote, batch, dataset, report, jack) and their
#: stacks.
ALL_EXTRAS = (
    "fastapi",
    "starlette",
    "uvicorn",
    "websockets",
    "uvloop",
    "dask",
    "distributed",
    "bokeh",
    "pandas",
    "matplotlib",
    "jams",
    "jack",
)

RUN = """
import json, sys
blocked, args = json.loads(sys.argv[1]), json.loads(sys.argv[2])

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Blocked())
sys.argv = ["aers", *args]
from aers_host.cli import main
main()
"""

CONFIG = """
    sample_rate: 48000
    block_size: 256
    duration: 0.1
    nodes:
      tone: {type: sine, params: {freq: 440, level_db: -12}}
      g: {type: gain, params: {gain_db: -6}}
      main: {type: output}
    connections:
      - {from: tone, to: g}
      - {from: g, to: main}
"""


def aers(*args: str | Path, blocked: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AERS_TEST_TOKEN": "t" * 32}
    return subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(blocked), json.dumps([str(a) for a in args])],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
    )


def refused_with(proc: subprocess.CompletedProcess[str], what: str, extra: str) -> None:
    """Exit 1 and exactly one line on stderr naming the extra and its pip command."""
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        f"error: {what} needs the {extra} extra: pip install 'aers-host[{extra}]'"
    ]


@pytest.fixture
def config(tmp_path: Path, aers_home: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


def test_render_and_plugin_list_work_without_any_extra(config: Path) -> None:
    out = config.parent / "out"
    proc = aers("render", config, "--out-dir", out, blocked=ALL_EXTRAS, cwd=config.parent)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(out / "main.wav")
    assert rate == 48000 and audio.shape == (4800, 2)
    assert json.loads((out / "metrics.json").read_text())["nodes"]["g"]
    listed = aers("plugin", "list", "--json", blocked=ALL_EXTRAS, cwd=config.parent)
    assert listed.returncode == 0, listed.stderr
    assert {"sine", "remote", "output"} <= {row["name"] for row in json.loads(listed.stdout)}


@pytest.mark.parametrize(
    ("args", "blocked", "what", "extra"),
    [
        (["serve", "graph.yaml"], ("fastapi",), "aers serve", "serve"),
        (["serve", "graph.yaml"], ("uvicorn",), "aers serve", "serve"),
        (["node", "serve", "--token-env", "AERS_TEST_TOKEN"], ("websockets",), "aers node serve", "remote"),
        (["batch", "sweep.yaml", "--out-dir", "runs"], ("distributed",), "aers batch", "batch"),
        (["render", "graph.yaml", "--report"], ("matplotlib",), "aers render --report", "report"),
        (["render", "graph.yaml", "--stems"], ("jams",), "aers render --stems", "dataset"),
        (["events", "from-jams", "a.jams"], ("jams",), "aers events from-jams", "dataset"),
        (["run", "graph.yaml", "--jack"], ("jack",), "aers run --jack", "jack"),
        (["serve", "graph.yaml", "--jack"], ("jack",), "aers serve --jack", "jack"),
    ],
)
def test_command_without_its_extra_names_it(
    config: Path, args: list[str], blocked: tuple[str, ...], what: str, extra: str
) -> None:
    proc = aers(*args, blocked=blocked, cwd=config.parent)
    refused_with(proc, what, extra)
    assert not (config.parent / "out").exists()  # refused before any work
    assert not (config.parent / "runs").exists()


def test_help_needs_no_extra(tmp_path: Path) -> None:
    proc = aers("serve", "--help", blocked=ALL_EXTRAS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "dashboard" in proc.stdout


def test_remote_node_without_websockets_fails_validation(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "  main: {type: output}\n",
        '  main: {type: output}\n  far: {type: remote, params: {url: "ws://127.0.0.1:9", '
        "token_env: AERS_TEST_TOKEN}}\n",
    )
    text = text.replace("- {from: g, to: main}", "- {from: g, to: far}\n  - {from: far, to: main}")
    config.write_text(text, encoding="utf-8")
    assert aers("validate", config, blocked=(), cwd=config.parent).returncode == 0
    proc = aers("validate", config, blocked=("websockets",), cwd=config.parent)
    assert proc.returncode == 1
    line = 1 + text.splitlines().index(next(x for x in text.splitlines() if "far:" in x))
    assert proc.stdout.splitlines() == [
        f"{config}:{line}: nodes.far.params: the remote node type needs the remote extra: "
        "pip install 'aers-host[remote]'"
    ]
    render = aers("render", config, "--out-dir", "out", blocked=("websockets",), cwd=config.parent)
    assert render.returncode == 1
    assert "pip install 'aers-host[remote]'" in render.stderr
    assert "Traceback" not in render.stderr


def test_a_tcp_remote_node_needs_no_extra(config: Path) -> None:
    """``tcp://`` nodes are plain sockets: node and graph both run on the lean install."""
    node = subprocess.Popen(
        [sys.executable, "-c", RUN, json.dumps(ALL_EXTRAS), json.dumps(
            ["node", "serve", "--transport", "tcp", "--port", "0", "--token-env",
             "AERS_TEST_TOKEN"])],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "AERS_TEST_TOKEN": "t" * 32},
    )  # fmt: skip
    try:
        assert node.stderr is not None
        line = node.stderr.readline()
        assert line.startswith("listening on tcp://"), line + node.stderr.read()
        text = config.read_text(encoding="utf-8").replace(
            "g: {type: gain, params: {gain_db: -6}}",
            f'g: {{type: remote, params: {{url: "{line.split()[-1]}", token_env: '
            "AERS_TEST_TOKEN, chain: [{type: gain, params: {gain_db: -6}}]}}",
        )
        config.write_text(text, encoding="utf-8")
        out = config.parent / "out"
        proc = aers("render", config, "--out-dir", out, blocked=ALL_EXTRAS, cwd=config.parent)
        assert proc.returncode == 0, proc.stderr
        audio, _ = sf.read(out / "main.wav")
        assert np.abs(audio).max() > 0.01
    finally:
        node.terminate()
        node.communicate(timeout=30)


def test_doctor_says_which_extras_are_installed(tmp_path: Path, aers_home: Path) -> None:
    proc = aers("doctor", "--json", blocked=("jams", "matplotlib"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    checks = json.loads(proc.stdout)
    assert checks["extra dataset"] == "missing jams: pip install 'aers-host[dataset]'"
    assert checks["extra report"] == "missing matplotlib: pip install 'aers-host[report]'"
    assert checks["extra serve"] == checks["extra batch"] == "installed"


def test_a_report_asked_through_the_api_without_matplotlib_names_the_extra(tmp_path: Path) -> None:
    code = RUN.replace(
        'sys.argv = ["aers", *args]\nfrom aers_host.cli import main\nmain()',
        "from aers_host.errors import MissingExtraError\n"
        "from aers_host.metrics._report import cpu_figure\n"
        "try:\n"
        "    cpu_figure({'nodes': {}})\n"
        "except MissingExtraError as err:\n"
        "    print(err)\n",
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(["matplotlib"]), "[]"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.stdout == "report.html needs the report extra: pip install 'aers-host[report]'\n"
