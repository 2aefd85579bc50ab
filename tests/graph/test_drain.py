"""The render's drain thread: chunks reach files and meters in order, errors come back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from graphs import Registry

from aers_host.config import load_config
from aers_host.errors import AudioIOError
from aers_host.graph import render
from aers_host.graph._drain import QUEUED_CHUNKS, ChunkDrain
from aers_host.graph._sinks import CHUNK_FRAMES


def test_deliveries_run_in_order_on_another_thread() -> None:
    drain = ChunkDrain()
    seen: list[tuple[int, str]] = []
    for k in range(20):
        drain.submit(lambda k=k: seen.append((k, threading.current_thread().name)))
    drain.finish()
    drain.finish()  # idempotent
    assert [k for k, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"aers-drain"}


def test_the_queue_is_bounded() -> None:
    drain = ChunkDrain()
    gate = threading.Event()
    drain.submit(gate.wait)  # the thread holds this one
    for _ in range(QUEUED_CHUNKS):
        drain.submit(lambda: None)
    blocked = threading.Thread(target=drain.submit, args=(lambda: None,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # waits for room instead of queueing more
    gate.set()
    blocked.join(10)
    assert not blocked.is_alive()
    drain.finish()


def test_an_error_stops_deliveries_and_is_raised_once() -> None:
    drain = ChunkDrain()
    after: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    drain.submit(fail)
    drain.submit(lambda: after.append(1))
    with pytest.raises(OSError, match="disk full"):
        drain.finish()
    drain.finish()  # reported once: a later finish in a finally stays quiet
    assert after == []


def test_a_file_that_cannot_take_a_chunk_fails_the_render_naming_it(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "sample_rate: 48000\nduration: 3\n"
        "nodes: {s: {type: noise}, out: {type: output}}\n"
        "connections: [{from: s, to: out}]\n",
        "utf-8",
    )
    cfg = load_config(path, registry=registry)

    def full(self: sf.SoundFile, data: np.ndarray) -> None:
        raise RuntimeError("No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(AudioIOError, match=r"cannot write .*out\.wav: No space left"):
        render(cfg, registry, out_dir=tmp_path / "o")


def test_files_and_capture_hold_every_chunk(registry: Registry, tmp_path: Path) -> None:
    seconds = 3 * CHUNK_FRAMES / 48_000 + 0.1  # three full chunks and a partial one
    path = tmp_path / "g.yaml"
    path.write_text(
        f"sample_rate: 48000\nduration: {seconds}\nblock_size: 500\n"
        "nodes: {s: {type: noise, params: {seed: 4}}, out: {type: output}}\n"
        "connections: [{from: s, to: out}]\n",
        "utf-8",
    )
    result = render(load_config(path, registry=registry), registry,
                    out_dir=tmp_path / "o", capture=True)  # fmt: skip
    written, rate = sf.read(tmp_path / "o" / "out.wav", dtype="float32", always_2d=True)
    assert rate == 48_000
    assert written.shape[0] == round(seconds * 48_000)
    assert np.array_equal(written.T, result.captured["out"])
    assert not any(t.name == "aers-drain" for t in threading.enumerate())
