"""Output-file options are checked before any work; I/O errors on named files are one line."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CONFIG = """
    duration: 0.2
    nodes:
      tone: {type: sine}
      main: {type: output}
    connections:
      - {from: tone, to: main}
    events:
      - {id: e1, category: footsteps, at: 100, source: {generator: impulse}, to: main}
"""


def flat(text: str) -> str:
    """Typer's error box as one line (it wraps long messages inside a frame)."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["render", "{cfg}", "--out-dir", "{out}", "--csv", "{missing}/x.csv"], "--csv"),
        (["render", "{cfg}", "--out-dir", "{out}", "--prometheus", "{missing}/p"], "--prometheus"),
        (["render", "{cfg}", "--out-dir", "{out}", "--event-log", "{missing}/l"], "--event-log"),
        (["events", "record", "{cfg}", "--out", "{missing}/l.jsonl"], "--out"),
        (["events", "generate", "--kind", "footsteps", "--count", "2", "--out", "{missing}/s"],
         "--out"),
    ],
)  # fmt: skip
def test_an_output_file_where_no_folder_can_be_is_refused_before_rendering(
    tmp_path: Path, config: Path, aers_home: Path, run_cli: Callable[..., Any], args: list[str],
    option: str,
) -> None:  # fmt: skip
    out = tmp_path / "out"
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, where the option wants a folder", encoding="utf-8")
    missing = blocker / "sub"
    filled = [a.format(cfg=config, out=out, missing=missing) for a in args]
    result = run_cli(*filled)
    assert result.code == 2, (result.out, result.err)
    assert f"Invalid value for '{option}'" in flat(result.err)
    assert f"cannot create folder {missing}" in flat(result.err)
    assert "Traceback" not in result.err
    assert not out.exists()  # nothing rendered


def test_a_missing_folder_for_an_output_file_is_created(
    tmp_path: Path, config: Path, aers_home: Path, run_cli: Callable[..., Any]
) -> None:
    csv = tmp_path / "reports" / "today" / "blocks.csv"
    result = run_cli("render", config, "--out-dir", tmp_path / "out", "--csv", csv)
    assert result.code == 0, result.err
    assert csv.read_text().startswith("block,")


def test_an_output_file_that_is_a_folder_is_refused(
    tmp_path: Path, config: Path, aers_home: Path, run_cli: Callable[..., Any]
) -> None:
    result = run_cli("render", config, "--out-dir", tmp_path / "out", "--csv", tmp_path)
    assert result.code == 2 and "is a folder; give a file name" in flat(result.err)
    assert not (tmp_path / "out").exists()


def test_an_os_error_on_a_named_file_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aers_host.cli import _app

    def fail() -> None:
        raise PermissionError(13, "Permission denied", "/data/take1.wav")

    monkeypatch.setattr(_app, "app", fail)
    with pytest.raises(SystemExit) as exit_info:
        _app.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.strip() == "error: /data/take1.wav: Permission denied"


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
@pytest.mark.parametrize("command", [["render", "{cfg}", "--out-dir", "{out}"], ["run", "{cfg}"],
                                     ["events", "record", "{cfg}", "--out", "{tmp}/l.jsonl"]])
def test_a_non_finite_duration_is_the_options_fault_not_the_configs(
    tmp_path: Path, config: Path, aers_home: Path, run_cli: Callable[..., Any], value: str,
    command: list[str],
) -> None:  # fmt: skip
    args = [a.format(cfg=config, out=tmp_path / "out", tmp=tmp_path) for a in command]
    result = run_cli(*args, "--duration", value)
    assert result.code == 2 and "Invalid value for '--duration'" in flat(result.err)
    assert str(config) not in result.err and not (tmp_path / "out").exists()
    assert not (tmp_path / "l.jsonl").exists()


def test_error_lines_keep_their_brackets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """rich must not read a message's [brackets] as style tags and drop them."""
    from aers_host.cli import _app
    from aers_host.errors import PluginError

    def fail() -> None:
        raise PluginError("name does not match '^[a-z][a-z0-9-]{0,62}$' [in variant x=1]")

    monkeypatch.setattr(_app, "app", fail)
    with pytest.raises(SystemExit):
        _app.main()
    err = capsys.readouterr().err
    assert "'^[a-z][a-z0-9-]{0,62}$' [in variant x=1]" in err
