"""The remote-node wire format: one binary WebSocket message per frame.

Every message is a fixed 32-byte little-endian header followed by its payload::

    offset  size  field
         0     4  magic     b"AERS"
         4     1  version   PROTOCOL_VERSION (1)
         5     1  type      BLOCK=1 (client→node), RESULT=2 (node→client), ERROR=3, HELLO=4,
                        STATE=5 (either way: the chain's state, asked for or restored)
         6     2  flags     reserved, 0
         8     8  seq       u64: block sequence number, echoed in the RESULT
        16     8  start     i64: absolute sample index of the block's first frame
        24     4  frames    u32
        28     2  channels  u16
        30     2  format    u16: FORMAT_F32_PLANAR (0) for BLOCK/RESULT, FORMAT_JSON (1)
    32..           payload  BLOCK/RESULT: channels × frames float32, channel after channel;
                            HELLO/ERROR/STATE: UTF-8 JSON object (frames = channels = 0)

Parsing is strict: the exact payload length for the declared shape, caps on frames,
channels and JSON size, known type and format, and a finite-size check before any
allocation. A frame that fails any check raises :class:`ProtocolError`; the receiver
closes that one connection.

Example:
    >>> import numpy as np
    >>> msg = encode_block(BLOCK, 7, 1024, np.ones((2, 4), np.float32))
    >>> frame = parse_frame(msg)
    >>> frame.seq, frame.start, frame.audio().shape
    (7, 1024, (2, 4))
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from .._processor import Buffer

MAGIC: Final = b"AERS"
PROTOCOL_VERSION: Final = 1
HEADER: Final = struct.Struct("<4sBBHQqIHH")
HEADER_SIZE: Final = HEADER.size

BLOCK: Final = 1
RESULT: Final = 2
ERROR: Final = 3
HELLO: Final = 4
STATE: Final = 5
_TYPES: Final = {BLOCK: "block", RESULT: "result", ERROR: "error", HELLO: "hello", STATE: "state"}

FORMAT_F32_PLANAR: Final = 0
FORMAT_JSON: Final = 1

#: Largest block a node accepts (the config's block_size maximum).
MAX_FRAMES: Final = 8192
#: Largest channel count.
MAX_CHANNELS: Final = 64
#: Largest JSON payload (hello with its chain, error messages).
MAX_JSON_BYTES: Final = 256 * 1024
#: Largest message either side accepts (the websockets ``max_size``).
MAX_MESSAGE: Final = HEADER_SIZE + max(MAX_FRAMES * MAX_CHANNELS * 4, MAX_JSON_BYTES)
#: Largest STATE payload: a chain's state (delay lines) may be larger than a hello, never
#: larger than a message.
MAX_STATE_BYTES: Final = MAX_MESSAGE - HEADER_SIZE


class ProtocolError(Exception):
    """A malformed or unexpected frame; the connection it came on is closed."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A parsed message; ``payload`` is a view into the received bytes."""

    type: int
    seq: int
    start: int
    frames: int
    channels: int
    payload: memoryview

    def audio(self) -> Buffer:
        """The payload as a read-only ``(channels, frames)`` float32 array (no copy)."""
        return np.frombuffer(self.payload, dtype="<f4").reshape(self.channels, self.frames)

    def json(self) -> dict[str, Any]:
        """The payload of a HELLO or ERROR as a JSON object.

        Raises:
            ProtocolError: not UTF-8 JSON, or not an object.
        """
        try:
            value = json.loads(bytes(self.payload).decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
            raise ProtocolError(f"{_TYPES[self.type]} payload is not JSON: {err}") from err
        if not isinstance(value, dict):
            raise ProtocolError(f"{_TYPES[self.type]} payload must be a JSON object")
        return value


def _no_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which JSON itself does not allow (Python's parser does)."""
    raise ValueError(f"{name} is not a JSON number")


def encode_header(
    buf: bytearray | memoryview, kind: int, seq: int, start: int, frames: int, channels: int
) -> None:
    """Write an audio header into the first :data:`HEADER_SIZE` bytes of ``buf`` (no alloc)."""
    HEADER.pack_into(
        buf, 0, MAGIC, PROTOCOL_VERSION, kind, 0, seq, start, frames, channels, FORMAT_F32_PLANAR
    )


def encode_block(kind: int, seq: int, start: int, audio: Buffer) -> bytes:
    """A BLOCK or RESULT message for ``audio`` (channels, frames)."""
    channels, frames = audio.shape
    out = bytearray(HEADER_SIZE + channels * frames * 4)
    encode_header(out, kind, seq, start, frames, channels)
    np.frombuffer(out, dtype="<f4", offset=HEADER_SIZE)[:] = np.asarray(audio, "<f4").ravel()
    return bytes(out)


def encode_json(kind: int, value: dict[str, Any]) -> bytes:
    """A HELLO, ERROR or STATE message carrying ``value``.

    Raises:
        ValueError: the JSON is larger than :data:`MAX_JSON_BYTES`.
    """
    payload = json.dumps(value, separators=(",", ":")).encode("utf-8")
    if len(payload) > (MAX_STATE_BYTES if kind == STATE else MAX_JSON_BYTES):
        raise ValueError(f"{_TYPES[kind]} message is {len(payload)} bytes, over the limit")
    header = HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, 0, 0, 0, 0, 0, FORMAT_JSON)
    return header + payload


def parse_frame(data: bytes | bytearray | memoryview | str) -> Frame:
    """Check and parse one message.

    Raises:
        ProtocolError: text instead of binary, short or oversized message, bad magic,
            version, type or format, non-zero flags, shape over the caps, or a payload
            whose length differs from what the header declares.
    """
    if isinstance(data, str):
        raise ProtocolError("text message; the AERS node protocol is binary only")
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise ProtocolError(f"message of {len(view)} bytes is shorter than the header")
    if len(view) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(view)} bytes is over the {MAX_MESSAGE} limit")
    magic, version, kind, flags, seq, start, frames, channels, fmt = HEADER.unpack_from(view)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {bytes(magic)!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version}, this AERS speaks {PROTOCOL_VERSION}")
    if kind not in _TYPES:
        raise ProtocolError(f"unknown message type {kind}")
    if flags:
        raise ProtocolError(f"reserved flags set ({flags:#x})")
    payload = view[HEADER_SIZE:]
    if kind in (BLOCK, RESULT):
        if fmt != FORMAT_F32_PLANAR:
            raise ProtocolError(f"unsupported sample format {fmt}")
        if not (0 < frames <= MAX_FRAMES and 0 < channels <= MAX_CHANNELS):
            raise ProtocolError(f"shape {channels}×{frames} is outside the limits")
        if len(payload) != frames * channels * 4:
            raise ProtocolError(
                f"payload is {len(payload)} bytes, header says {channels}×{frames} float32 "
                f"= {frames * channels * 4}"
            )
    else:
        if fmt != FORMAT_JSON or frames or channels:
            raise ProtocolError(f"{_TYPES[kind]} must carry JSON and no audio shape")
        limit = MAX_STATE_BYTES if kind == STATE else MAX_JSON_BYTES
        if len(payload) > limit:
            raise ProtocolError(f"{_TYPES[kind]} JSON is over {limit} bytes")
    return Frame(kind, seq, start, frames, channels, payload)
