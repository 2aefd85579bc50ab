"""Fuzz: any remote frame is parsed into a frame within the caps or refused, never a crash.

Headers are drawn field by field (magic, version, type, flags, seq, start, frames,
channels, format) over their whole integer ranges, with payloads whose length matches the
declared shape or not, plus arbitrary bytes. ``parse_frame`` must return a frame or raise
``ProtocolError`` (the receiver then closes that one connection); a frame it returns
holds audio within ``MAX_FRAMES × MAX_CHANNELS`` or a JSON object (or ``ProtocolError``),
and reading it allocates nothing beyond the message itself.
"""

from __future__ import annotations

import contextlib

from fuzzing import allocation_peak, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from aers_host.remote import MAX_CHANNELS, MAX_FRAMES, MAX_MESSAGE
from aers_host.remote._protocol import (
    BLOCK,
    ERROR,
    HEADER,
    HELLO,
    MAGIC,
    RESULT,
    Frame,
    ProtocolError,
    parse_frame,
)

#: Parsing and viewing a message costs a small fraction of it: no copy, no decoding of audio.
PARSE_BOUND = 1 << 20


def _u(bits: int) -> st.SearchStrategy[int]:
    top = (1 << bits) - 1
    return st.sampled_from([0, 1, 2, top, top - 1]) | st.integers(0, top)


HEADERS = st.tuples(
    st.just(MAGIC) | st.binary(min_size=4, max_size=4),
    st.just(1) | _u(8),
    st.sampled_from([BLOCK, RESULT, ERROR, HELLO]) | _u(8),
    st.just(0) | _u(16),
    _u(64),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.sampled_from([1, 64, MAX_FRAMES, MAX_FRAMES + 1]) | _u(32),
    st.sampled_from([1, 2, MAX_CHANNELS, MAX_CHANNELS + 1]) | _u(16),
    st.sampled_from([0, 1]) | _u(16),
)
PAYLOADS = st.sampled_from(["declared", "short", "long", "json", "random"])


def _message(header: tuple[object, ...], how: str, extra: bytes) -> bytes:
    frames, channels = int(header[6]), int(header[7])  # type: ignore[call-overload]
    declared = frames * channels * 4
    head = HEADER.pack(*header)
    if how == "declared" and declared <= MAX_MESSAGE:
        return head + bytes(declared)
    if how == "short" and 0 < declared <= MAX_MESSAGE:
        return head + bytes(declared - 1)
    if how == "long" and declared < MAX_MESSAGE:
        return head + bytes(declared + 4)
    if how == "json":
        return head + b'{"latency_samples": ' + extra.hex().encode() + b"}"
    return head + extra


def _check(message: bytes) -> None:
    with allocation_peak(PARSE_BOUND + len(message)):
        try:
            frame = parse_frame(message)
        except ProtocolError as err:
            assert str(err)
            return
        assert isinstance(frame, Frame)
        if frame.type in (BLOCK, RESULT):
            audio = frame.audio()
            assert audio.shape == (frame.channels, frame.frames)
            assert 0 < frame.frames <= MAX_FRAMES and 0 < frame.channels <= MAX_CHANNELS
        else:
            with contextlib.suppress(ProtocolError):  # or a JSON object
                assert isinstance(frame.json(), dict)


@given(header=HEADERS, how=PAYLOADS, extra=st.binary(max_size=64))
@fuzz_settings(examples=200)
def test_fuzzed_frame_headers_parse_within_the_caps_or_are_refused(
    header: tuple[object, ...], how: str, extra: bytes
) -> None:
    _check(_message(header, how, extra))


@given(message=st.binary(max_size=96))
@fuzz_settings(examples=100)
def test_arbitrary_bytes_are_refused_or_parsed(message: bytes) -> None:
    _check(message)
