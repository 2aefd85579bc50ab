"""The ``output`` sink: collects a node's audio for a file (or for the Python API).

The block loop must do no file I/O, so the sink only copies each block into a
preallocated chunk; the render driver drains full chunks to disk between blocks
(:class:`OutputWriter`). With ``capture=True`` the whole render is kept in memory instead.
Taps (:attr:`OutputSink.taps`) see every drained chunk too — the metrics measure outputs
there, a chunk at a time, off the block loop (on the render's drain thread, see
``_drain.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .._jit import kernel_from
from .._nodetype import BuiltinNodeType, ChannelError, CheckContext, NodeTraits, ParamIssue
from .._processor import Buffer, ParamEvent, compiled
from ..errors import AudioIOError

#: The engine's kernels import numba; the ``output`` type must not (``aers validate``).
interleave_into = kernel_from("aers_host.graph._kernels", "interleave_into")

SUBTYPES = ("FLOAT", "PCM_16", "PCM_24")
FORMATS = ("wav", "flac")
#: Frames kept before the driver writes them out (about 1.4 s at 48 kHz).
CHUNK_FRAMES = 65_536


class OutputSink:
    """[audio-thread] Copies its input into a chunk the driver drains between blocks.

    The chunk is (frames, channels), the layout sound files take.
    """

    latency_samples = 0

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)
        self.chunk = np.zeros((0, 0), np.float32)
        self.fill = 0
        self.captured: list[np.ndarray] = []
        self.capture = False
        #: [drain-thread] Called with every drained chunk, ``(frames, channels)``, in order,
        #: by whoever delivers the chunks :meth:`take` returns.
        self.taps: list[Callable[[np.ndarray], None]] = []
        #: Blocks that found the chunk full because nobody drained it (their frames, and
        #: the undrained ones, are dropped: a sink never writes past its chunk).
        self.overruns = 0

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Allocate the chunk."""
        frames = max(CHUNK_FRAMES, max_block * 2)
        self.chunk = np.zeros((frames, channels), np.float32)
        self.fill = 0

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Append the block to the chunk."""
        self._make_room(inp.shape[1])
        interleave_into(self.chunk, inp, self.fill)
        self.fill += inp.shape[1]

    def _make_room(self, frames: int) -> None:
        """The kernel does not check bounds: an undrained chunk is emptied, never overrun."""
        if self.fill + frames > self.chunk.shape[0]:
            self.overruns += 1
            self.fill = 0

    def bind_block(self, inp: Buffer, out: Buffer) -> Callable[[int], None]:
        """[main-thread & !processing] ``call(start)`` appending ``inp``, without numba dispatch."""
        append, frames = compiled(interleave_into, self.chunk, inp, self.fill), inp.shape[1]

        def block(start: int) -> None:
            if self.fill + frames > self.chunk.shape[0]:
                self._make_room(frames)
            append(self.chunk, inp, self.fill)
            self.fill += frames

        return block

    def needs_drain(self, next_frames: int) -> bool:
        """True when the next block would not fit."""
        return self.fill + next_frames > self.chunk.shape[0]

    def take(self) -> np.ndarray:
        """[main-thread] Return the pending frames as (frames, channels) and empty the chunk.

        The frames are a copy (the chunk refills while they are written); the caller
        hands them to the :attr:`taps` and the file, in order.
        """
        pending = self.chunk[: self.fill].copy()
        self.fill = 0
        if self.capture:
            self.captured.append(pending)
        return pending

    def reset(self) -> None:
        """Drop pending frames."""
        self.fill = 0

    def get_state(self) -> dict[str, Any]:
        """Sinks keep no state worth saving."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


def output_format(params: Mapping[str, Any]) -> str:
    """``wav`` or ``flac``: the ``format`` param, else the ``path`` suffix, else wav."""
    if "format" in params:
        return str(params["format"])
    suffix = Path(str(params.get("path", ""))).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "wav"


class OutputWriter:
    """[main-thread] Streams a sink's chunks to ``DIR/<node-id>.<wav|flac>``."""

    def __init__(self, path: Path, sample_rate: int, channels: int, params: Mapping[str, Any]):
        fmt = output_format(params)
        subtype = str(params.get("subtype", "FLOAT"))
        if fmt == "flac" and subtype == "FLOAT":
            subtype = "PCM_24"  # FLAC has no float samples
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = sf.SoundFile(
                str(path),
                "w",
                samplerate=sample_rate,
                channels=channels,
                format=fmt.upper(),
                subtype=subtype,
            )
        except (OSError, RuntimeError, sf.LibsndfileError) as err:
            raise AudioIOError(f"cannot write {path}: {err}") from err

    def write(self, frames: np.ndarray) -> None:
        """Append (frames, channels) samples.

        Raises:
            AudioIOError: the file cannot take them (a full disk), naming it.
        """
        try:
            self._file.write(frames)
        except (OSError, RuntimeError, sf.LibsndfileError) as err:
            raise AudioIOError(f"cannot write {self.path}: {err}") from err

    def close(self) -> None:
        """Finish the file."""
        self._file.close()


def _output_channels(params: Mapping[str, Any], n_in: int | None, ctx: CheckContext) -> int:
    if n_in is None:
        raise ChannelError("has no input connected", "connect the node that feeds this output")
    wanted = params.get("channels")
    if wanted is not None and wanted != n_in:
        raise ChannelError(
            f"expects {wanted} channels but its input has {n_in}",
            "change `channels`, or insert a `pan` node to make mono stereo",
        )
    return n_in


def _check_output(params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
    suffix = Path(str(params.get("path", ""))).suffix
    if "format" not in params and suffix and suffix.lower().lstrip(".") not in FORMATS:
        supported = " or ".join(f".{f}" for f in FORMATS)
        return [
            ParamIssue(
                "path",
                f"unknown output format {suffix!r}: supported formats are {', '.join(FORMATS)}",
                f"end the path in {supported}, or set `format`",
            )
        ]
    if output_format(params) == "flac" and params.get("subtype") == "FLOAT":
        return [ParamIssue("subtype", "FLAC cannot store FLOAT samples", "use PCM_16 or PCM_24")]
    return []


OUTPUT = BuiltinNodeType(
    name="output",
    role="sink",
    summary="Write the input to DIR/<node-id>.wav (or .flac) when rendering",
    factory=lambda params, ctx: OutputSink(params),
    extra_properties={
        "path": {"type": "string", "description": "Only its suffix (.wav/.flac) picks the format."},
        "format": {"enum": list(FORMATS)},
        "subtype": {"enum": list(SUBTYPES), "default": "FLOAT"},
        "channels": {"type": "integer", "minimum": 1, "maximum": 64},
    },
    checker=_check_output,
    channels=_output_channels,
    traits=NodeTraits(linear=True),
)
