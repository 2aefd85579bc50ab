"""Audio file reading and writing with soundfile, and resampling with soxr.

Invariants:
    * Buffers are ``float32`` shaped ``(channels, frames)``, C-contiguous — the engine's layout
      (soundfile's own layout is ``(frames, channels)``; the transpose happens here, once).
    * Resampling uses soxr's high-quality (``HQ``) preset; equal rates return the data as is.
    * Every failure of the audio stack becomes :class:`~aers_host.errors.AudioIOError` naming
      the file, chained to the original error.

Example:
    >>> import numpy as np
    >>> resample(np.zeros((2, 441), np.float32), 44100, 48000).shape
    (2, 480)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from ..errors import AudioIOError

AudioArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a file's header says.

    Attributes:
        path: the file.
        channels: channel count.
        sample_rate: frames per second.
        frames: length in frames.
    """

    path: Path
    channels: int
    sample_rate: int
    frames: int


def audio_info(path: str | Path) -> AudioInfo:
    """[any-thread] Read only the header of ``path``.

    Raises:
        AudioIOError: missing file or a format soundfile cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioIOError(f"file not found: {path}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError) as e:  # LibsndfileError is a RuntimeError
        raise AudioIOError(f"cannot read audio file {path}: {e}") from e
    return AudioInfo(path, int(info.channels), int(info.samplerate), int(info.frames))


def resample(data: AudioArray, from_rate: int, to_rate: int) -> AudioArray:
    """[main-thread] Resample ``(channels, frames)`` audio with soxr ``HQ``.

    Raises:
        ValueError: a non-positive rate.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} → {to_rate}")
    if from_rate == to_rate:
        return data
    out = soxr.resample(np.ascontiguousarray(data.T), from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(np.asarray(out, np.float32).T)


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[AudioArray, int]:
    """[main-thread] Read a whole file as ``float32 (channels, frames)``, optionally resampled.

    Args:
        path: any format soundfile (libsndfile) reads: WAV, FLAC, OGG, AIFF, MP3...
        sample_rate: rate to convert to; None keeps the file's rate.

    Returns:
        The audio and its sample rate (``sample_rate`` when given).

    Raises:
        AudioIOError: missing or unreadable file.
    """
    info = audio_info(path)
    try:
        frames, rate = sf.read(str(info.path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as e:  # LibsndfileError is a RuntimeError
        raise AudioIOError(f"cannot read audio file {info.path}: {e}") from e
    data: AudioArray = np.ascontiguousarray(frames.T)
    if sample_rate is None or sample_rate == rate:
        return data, int(rate)
    return resample(data, int(rate), sample_rate), sample_rate


def write_audio(
    path: str | Path, data: AudioArray, sample_rate: int, subtype: str | None = "FLOAT"
) -> None:
    """[main-thread] Write ``(channels, frames)`` audio; the format follows the extension.

    Raises:
        AudioIOError: the file cannot be written (folder missing, unknown extension...).
    """
    kwargs: dict[str, Any] = {"subtype": subtype} if subtype else {}
    try:
        sf.write(str(path), np.ascontiguousarray(np.asarray(data).T), sample_rate, **kwargs)
    except (RuntimeError, OSError, TypeError, ValueError) as e:
        raise AudioIOError(f"cannot write audio file {path}: {e}") from e
