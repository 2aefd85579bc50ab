"""``aers serve --record DIR``: what the output nodes played, with each block's sample stamp.

Made for checking a live run against an offline render (tests, demos). Everything is
preallocated when the server starts — ``seconds`` of audio per output node present then —
and the audio thread only copies each block into it (no allocation, no I/O). Files are
written when the server stops: ``DIR/<output>.wav`` (float32, the blocks back to back) and
``DIR/<output>.json`` with ``{"sample_rate", "channels", "blocks": [[start, frames, loop],
...], "overflow"}`` — ``start`` is the absolute sample index of each block, so a stretch of
the recording can be lined up with any other render. An output that an edit removes (or
whose channel count changes) records silence from then on, its blocks still stamped.

Example:
    >>> rec = Recorder.for_view(view, seconds=10.0)   # doctest: +SKIP
    >>> rec.write(Path("rec"))                        # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._plans import PlanView


@dataclass(slots=True)
class _Track:
    audio: npt.NDArray[np.float32]
    stamps: npt.NDArray[np.int64]


class Recorder:
    """Preallocated recordings of the output nodes of a plan."""

    def __init__(self, ids: dict[str, int], sample_rate: int, block: int, seconds: float) -> None:
        """[main-thread] Room for ``seconds`` of each output (id → channels)."""
        frames = max(block, round(seconds * sample_rate))
        blocks = frames // block + 2
        self.sample_rate = sample_rate
        self.tracks = {
            node_id: _Track(
                np.zeros((channels, frames), np.float32), np.zeros((blocks, 3), np.int64)
            )
            for node_id, channels in ids.items()
        }
        self.fill = 0
        self.count = 0
        self.overflow = 0

    @classmethod
    def for_view(cls, view: PlanView, seconds: float) -> Recorder:
        """[main-thread] Record every output node of ``view``'s plan."""
        plan = view.plan
        ids = {n.id: n.in_buf.shape[0] for n in plan.nodes if n.role == "sink"}
        return cls(ids, plan.sample_rate, plan.block_size, seconds)

    def capture(self, view: PlanView, start: int, frames: int, loop: int) -> None:
        """[audio-thread, after a block] Copy what each output received in this block."""
        tracks = self.tracks
        if not tracks:
            return
        end = self.fill + frames
        first = next(iter(tracks.values()))
        if end > first.audio.shape[1] or self.count >= len(first.stamps):
            self.overflow += 1
            return
        plan = view.plan
        for node_id, track in tracks.items():
            index = plan.index.get(node_id)
            dst = track.audio[:, self.fill : end]
            node = plan.nodes[index] if index is not None else None
            if node is None or node.in_buf.shape[0] != dst.shape[0]:
                dst.fill(0.0)
            else:
                src = plan.input_of(node)
                dst[...] = src[:, :frames]
            track.stamps[self.count] = (start, frames, loop)
        self.fill = end
        self.count += 1

    def write(self, out_dir: Path) -> list[Path]:
        """[main-thread & !processing] Write every recording; return the WAV paths.

        Raises:
            OSError: the folder or a file cannot be written.
        """
        import soundfile as sf

        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for node_id, track in self.tracks.items():
            wav = out_dir / f"{node_id}.wav"
            sf.write(str(wav), track.audio[:, : self.fill].T, self.sample_rate, subtype="FLOAT")
            meta = {
                "sample_rate": self.sample_rate,
                "channels": int(track.audio.shape[0]),
                "blocks": track.stamps[: self.count].tolist(),
                "overflow": self.overflow,
            }
            (out_dir / f"{node_id}.json").write_text(json.dumps(meta), encoding="utf-8")
            written.append(wav)
        return written
