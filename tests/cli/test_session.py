"""`aers session …` as a user runs it: save, list, load, export, import, delete, bad stores."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

CONFIG = """
    duration: 0.2
    nodes:
      tone: {type: sine, params: {freq: 220, level_db: -6}}
      dly:  {type: delay, params: {samples: 300, feedback: 0.3, mix: 0.5}}
      out:  {type: output}
    connections:
      - {from: tone, to: dly}
      - {from: dly, to: out}
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


def test_save_list_load_export_import_delete(tmp_path: Path, aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    config = write(tmp_path)
    saved = run_cli("session", "save", "mix1", "--config", config, "--note", "first take")
    assert saved.code == 0, saved.err
    assert (aers_home / "sessions.db").is_file()

    listed = run_cli("session", "list", "--json")
    [row] = json.loads(listed.out)
    assert (row["name"], row["version"], row["position"], row["note"]) == (
        "mix1", 1, 0, "first take",
    )  # fmt: skip

    loaded = run_cli("session", "load", "mix1", "--json")
    assert loaded.code == 0, loaded.err
    info = json.loads(loaded.out)
    assert info["ok"] and info["nodes"] == ["dly", "out", "tone"] and info["position"] == 0

    rendered = run_cli("render", config, "--out-dir", tmp_path / "o", "--save-session", "mix1")
    assert rendered.code == 0, rendered.err
    assert "session 'mix1' saved (version 2, next sample 9600)" in rendered.out

    yaml_file = tmp_path / "mix1.yaml"
    assert run_cli("session", "export", "mix1", "--yaml", yaml_file).code == 0
    imported = run_cli("session", "import", yaml_file, "--name", "copy")
    assert imported.code == 0, imported.err
    names = [r["name"] for r in json.loads(run_cli("session", "list", "--json").out)]
    assert names == ["copy", "mix1"]

    assert run_cli("session", "delete", "copy").code == 0
    gone = run_cli("session", "load", "copy")
    assert gone.code == 1 and "no session named 'copy'" in gone.err


def test_list_human_output(tmp_path: Path, aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    assert "no sessions" in run_cli("session", "list").out
    run_cli("session", "save", "a", "--config", write(tmp_path))
    result = run_cli("session", "list")
    assert result.code == 0 and "a" in result.out


def test_corrupt_store_is_a_clear_error_and_untouched(aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    db = aers_home / "sessions.db"
    junk = os.urandom(4096)
    db.write_bytes(junk)
    for args in (("session", "list"), ("session", "load", "x"), ("render", "--resume", "x")):
        result = run_cli(*args)
        assert result.code == 1, args
        assert "not an AERS session database" in result.err
        assert "Traceback" not in result.err
    assert db.read_bytes() == junk


def test_import_of_a_bad_file_prints_file_and_line(
    tmp_path: Path, aers_home: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    run_cli("session", "save", "s", "--config", write(tmp_path))
    yaml_file = tmp_path / "s.yaml"
    run_cli("session", "export", "s", "--yaml", yaml_file)
    yaml_file.write_text(yaml_file.read_text().replace("type: delay", "type: dlay"))
    result = run_cli("session", "import", yaml_file)
    assert result.code == 1
    assert f"{yaml_file}:" in result.err and "did you mean 'delay'" in result.err


def test_invalid_name_is_refused(tmp_path: Path, aers_home: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("session", "save", "../etc", "--config", write(tmp_path))
    assert result.code == 1 and "invalid session name" in result.err


def test_export_writes_through_a_symlink_and_refuses_special_files(
    tmp_path: Path, aers_home: Path, run_cli  # type: ignore[no-untyped-def]
) -> None:
    assert run_cli("session", "save", "s", "--config", write(tmp_path)).code == 0
    target = tmp_path / "real.yaml"
    target.write_text("old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert run_cli("session", "export", "s", "--yaml", link).code == 0
    assert link.is_symlink() and "format_version" in target.read_text()  # the link stays

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    refused = run_cli("session", "export", "s", "--yaml", fifo)
    assert refused.code == 1 and "not a regular file" in refused.err, refused.err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # not replaced

    unwritable = run_cli("session", "export", "s", "--yaml", "/proc/nope.yaml")
    assert unwritable.code == 1 and "/proc/nope.yaml" in unwritable.err
    assert ".tmp" not in unwritable.err  # the path the user gave, not our temporary file


#: A stateful sandboxed plugin: a ramp that grows by one step per block, restored only
#: from the state its own ``get_state`` wrote (anything else makes ``set_state`` raise).
RAMP = """
import math

import numpy as np


class Ramp:
    def prepare(self, sample_rate, max_block, channels):
        self.n = 0

    def process(self, inp, out, start, events):
        self.n = self.n + 1
        out[:] = inp * math.pow(10.0, self.params["gain_db"] / 20.0) + 0.001 * self.n

    def get_state(self):
        return {"n": self.n}

    def set_state(self, state):
        self.n = state["n"]
"""
RAMP_CONFIG = """
version: 1
block_size: 480
nodes:
  tone: {type: sine, params: {freq: 440, level_db: -6}}
  fx: {type: ramp}
  main: {type: output, params: {subtype: FLOAT}}
connections:
  - {from: tone, to: fx}
  - {from: fx, to: main}
"""


def test_save_runs_no_plugin_code_and_resumes_like_a_fresh_render(
    tmp_path: Path, install_plugin: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``session save`` builds the graph as ``aers graph`` does: no sandbox worker starts."""
    install_plugin("ramp", RAMP)
    config = tmp_path / "ramp.yaml"
    config.write_text(RAMP_CONFIG)

    spawned: list[list[str]] = []  # every process this test's code starts from here on

    class Recording(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, args: Any, *rest: Any, **options: Any) -> None:
            spawned.append([str(a) for a in args])
            super().__init__(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    saved = run_cli("session", "save", "fresh", "--config", config)
    assert saved.code == 0, saved.err
    assert spawned == []  # no worker: the plugin's code never ran

    resumed = run_cli(
        "render", "--resume", "fresh", "--duration", "0.1", "--out-dir", tmp_path / "resumed"
    )
    assert resumed.code == 0, resumed.err
    assert any("aers_host.sandbox" in " ".join(a) for a in spawned)  # a render does start one
    plain = run_cli("render", config, "--duration", "0.1", "--out-dir", tmp_path / "plain")
    assert plain.code == 0, plain.err
    resumed_audio, _ = sf.read(tmp_path / "resumed" / "main.wav", dtype="float32")
    plain_audio, _ = sf.read(tmp_path / "plain" / "main.wav", dtype="float32")
    assert resumed_audio.shape[0] == 4800 and np.abs(plain_audio).max() > 0.4
    assert np.array_equal(resumed_audio, plain_audio)  # the ramp started from 0 both times
