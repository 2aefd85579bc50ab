"""The ``file`` source: an audio file read whole at prepare, resampled to the graph rate.

Invariants:
    * All I/O and resampling happen in :meth:`FileSource.prepare`; ``process`` only copies
      from memory, so a slow disk can never cause an xrun.
    * Output sample ``n`` is file frame ``n + round(start·fs)`` (modulo the length when
      ``loop``), so the output does not depend on the block size; past the end it is silence.
    * ``length_frames`` is the number of frames played (None while looping): what the
      render length uses when no duration is given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._features import KnowsLength
from .._nodetype import BuiltinNodeType, ChannelError, CheckContext, NodeTraits, ParamIssue
from .._processor import Buffer, ParamSpec, ProcessorBase, compiled
from ..errors import AudioIOError
from ..io import audio_info, read_audio
from ._common import db_to_lin, kernel

_HINT = "relative paths resolve against the config's folder"


@kernel
def _play_kernel(
    data: Buffer, out: Buffer, play: np.ndarray, start: int
) -> None:  # pragma: no cover - compiled
    """Copy ``data`` from frame ``start + offset`` on, times ``gain``, into ``out``.

    ``play`` is [offset (frames), gain (a float32 value), loop (0 or 1)]: one array, so a
    bound block call is a plain ``functools.partial``. Past the end: wrap or zero-fill.

    One compiled call per block: the copy itself is a few hundred nanoseconds, so slicing
    and arithmetic in Python would cost more than the work. Rows are sliced and indexed
    from 0 so the loop vectorises (see ``_gain_kernel``); ``float32 · float32`` rounds
    exactly as ``np.multiply`` did.
    """
    pos, gain, loop = start + int(play[0]), np.float32(play[1]), play[2] != 0.0
    channels, frames = out.shape
    length = data.shape[1]
    done = 0
    while done < frames:
        if loop and length:
            pos %= length
        if pos >= length:
            for c in range(channels):
                out[c, done:] = 0.0
            return
        n = min(frames - done, length - pos)
        for c in range(channels):
            src, dst = data[c, pos : pos + n], out[c, done : done + n]
            for m in range(n):
                dst[m] = src[m] * gain
        done += n
        pos += n


class FileSource(ProcessorBase, KnowsLength):
    """Plays an audio file from memory with ``gain_db``, optional ``loop`` and ``start`` offset."""

    PARAMS = (ParamSpec("gain_db", 0.0, -120.0, 24.0, "dB", "playback gain"),)

    def __init__(
        self, path: Path, *, loop: bool = False, start: float = 0.0, **values: float
    ) -> None:
        super().__init__(**values)
        self.path = path
        self.loop = bool(loop)
        self.start_seconds = float(start)
        self.out_channels = audio_info(path).channels
        self._data = np.zeros((self.out_channels, 0), np.float32)
        self._play = np.array([0.0, 1.0, float(self.loop)])  # offset, gain, loop

    def _on_param(self, name: str) -> None:
        self._play[1] = np.float32(db_to_lin(self.values["gain_db"]))

    @property
    def length_frames(self) -> int | None:
        """[main-thread] Frames this source plays at the graph rate; None if it never ends.

        The file's length after resampling minus the ``start`` offset (0 when ``start`` is
        past the end). A looping file never ends. Known once prepared (None before): the
        resampled length comes from the audio read in :meth:`prepare`. The render length
        (:func:`aers_host.graph.render_length`) uses it when no duration is given.
        """
        if self.loop or not self.sample_rate:
            return None
        return max(0, int(self._data.shape[1]) - int(self._play[0]))

    def _allocate(self) -> None:
        """[main-thread & !active] Read and resample the whole file.

        Raises:
            AudioIOError: the file vanished or became unreadable since the check, or holds
                NaN/infinite samples (float files can), which would poison every mix after it.
        """
        self._data, _ = read_audio(self.path, self.sample_rate)
        bad = int(np.count_nonzero(~np.isfinite(self._data)))
        if bad:
            raise AudioIOError(
                f"{self.path}: {bad} samples are NaN or infinite; repair or re-export the file"
            )
        self._play[0] = round(self.start_seconds * self.sample_rate)

    def render(self, inp: Buffer, out: Buffer, start: int) -> None:
        """[audio-thread & processing] Copy the file's frames for this span (zeros past the end)."""
        _play_kernel(self._data, out, self._play, start)

    def bind_block(self, inp: Buffer, out: Buffer) -> Callable[[int], None]:
        """[main-thread & !processing] :meth:`render` on fixed views, as a plain partial."""
        run = compiled(_play_kernel, self._data, out, self._play, 0)
        return functools.partial(run, self._data, out, self._play)

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Params (playback position is the engine's sample index)."""
        return {**super().get_state(), "path": str(self.path), "loop": self.loop}


def check_file(params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
    """[any-thread] The file must exist and be readable by soundfile (header only)."""
    raw = params.get("path")
    if not isinstance(raw, str) or not raw:
        return [ParamIssue("path", "path must be a non-empty string", _HINT)]
    path = ctx.resolve(raw)
    if not path.is_file():
        return [ParamIssue("path", f"file not found: {path}", _HINT)]
    try:
        audio_info(path)
    except AudioIOError as e:
        return [ParamIssue("path", str(e), "convert it to WAV or FLAC")]
    return []


def file_channels(params: Mapping[str, Any], input_channels: int | None, ctx: CheckContext) -> int:
    """[any-thread] The file's own channel count, read from its header."""
    if input_channels:
        raise ChannelError("a file source takes no input", "remove the connections into it")
    try:
        info = audio_info(ctx.resolve(str(params.get("path", ""))))
    except AudioIOError as e:
        raise ChannelError(str(e), _HINT) from e
    return info.channels


def _file_factory(params: Mapping[str, Any], ctx: CheckContext) -> FileSource:
    values = {"gain_db": float(params["gain_db"])} if "gain_db" in params else {}
    return FileSource(
        ctx.resolve(str(params["path"])),
        loop=bool(params.get("loop", False)),
        start=float(params.get("start", 0.0)),
        **values,
    )


FILE = BuiltinNodeType(
    name="file",
    role="source",
    summary="audio file (any soundfile format), resampled to the graph rate",
    factory=_file_factory,
    specs=FileSource.PARAMS,
    extra_properties={
        "path": {"type": "string", "minLength": 1},
        "loop": {"type": "boolean", "default": False},
        "start": {"type": "number", "minimum": 0, "default": 0,
                  "description": "offset into the file [s]"},
    },
    required=("path",),
    checker=check_file,
    channels=file_channels,
    traits=NodeTraits(ends=lambda params: not params.get("loop", False)),
)
