"""The binary frame format: round trips and one refusal per malformation."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from aers_host.remote import (
    BLOCK,
    HEADER,
    HEADER_SIZE,
    HELLO,
    MAGIC,
    MAX_FRAMES,
    RESULT,
    ProtocolError,
    encode_block,
    encode_json,
    parse_frame,
)


def test_block_round_trip_is_exact_and_planar() -> None:
    audio = np.arange(10, dtype=np.float32).reshape(2, 5) / 7
    frame = parse_frame(encode_block(BLOCK, 2**40, -5, audio))
    assert (frame.type, frame.seq, frame.start, frame.frames, frame.channels) == (
        BLOCK, 2**40, -5, 5, 2,
    )  # fmt: skip
    assert np.array_equal(frame.audio(), audio)
    assert HEADER_SIZE == 32


def test_json_round_trip() -> None:
    frame = parse_frame(encode_json(HELLO, {"chain": [], "block_size": 512}))
    assert frame.json() == {"chain": [], "block_size": 512}


def _header(**fields: int) -> bytes:
    values = {"version": 1, "type": BLOCK, "flags": 0, "seq": 0, "start": 0, "frames": 2,
              "channels": 1, "format": 0, **fields}  # fmt: skip
    return HEADER.pack(
        MAGIC, values["version"], values["type"], values["flags"], values["seq"],
        values["start"], values["frames"], values["channels"], values["format"],
    )  # fmt: skip


@pytest.mark.security
@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("text", "text message"),
        (b"AERS", "shorter than the header"),
        (b"XXXX" + _header()[4:] + b"\0" * 8, "bad magic"),
        (_header(version=9) + b"\0" * 8, "protocol version"),
        (_header(type=77) + b"\0" * 8, "unknown message type"),
        (_header(flags=1) + b"\0" * 8, "reserved flags"),
        (_header() + b"\0" * 7, "payload is 7 bytes"),
        (_header() + b"\0" * 9, "payload is 9 bytes"),
        (_header(frames=0) + b"", "outside the limits"),
        (_header(frames=MAX_FRAMES + 1) + b"\0" * 4, "outside the limits"),
        (_header(channels=1000) + b"\0" * 8, "outside the limits"),
        (_header(format=3) + b"\0" * 8, "unsupported sample format"),
        (_header(type=HELLO, frames=0, channels=0, format=0) + b"{}", "must carry JSON"),
        (_header(type=RESULT, frames=2**31, channels=2**15) + b"", "outside the limits"),
    ],
)
def test_malformed_frames_are_refused(message: bytes | str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        parse_frame(message)


def test_json_payload_must_be_an_object() -> None:
    frame = parse_frame(HEADER.pack(MAGIC, 1, HELLO, 0, 0, 0, 0, 0, 1) + b"[1, 2]")
    with pytest.raises(ProtocolError, match="JSON object"):
        frame.json()
    bad = parse_frame(HEADER.pack(MAGIC, 1, HELLO, 0, 0, 0, 0, 0, 1) + b"\xff")
    with pytest.raises(ProtocolError, match="not JSON"):
        bad.json()


def test_header_layout_is_little_endian_and_fixed() -> None:
    raw = encode_block(RESULT, 1, 2, np.zeros((1, 1), np.float32))
    assert raw[:4] == b"AERS"
    assert struct.unpack_from("<Q", raw, 8)[0] == 1
    assert struct.unpack_from("<q", raw, 16)[0] == 2


def test_json_payload_refuses_nan_and_infinity() -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        payload = b'{"chain": [{"type": "gain", "params": {"gain_db": ' + constant + b"}}]}"
        frame = parse_frame(HEADER.pack(MAGIC, 1, HELLO, 0, 0, 0, 0, 0, 1) + payload)
        with pytest.raises(ProtocolError, match="not a JSON number"):
            frame.json()
