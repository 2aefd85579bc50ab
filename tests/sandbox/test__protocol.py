"""Wire format and segment layout: sizes, framing, caps."""

from __future__ import annotations

import os

import pytest

from aers_host.sandbox import _protocol as proto


def test_doorbell_with_max_events_and_route_fits_one_atomic_pipe_write() -> None:
    size = proto.DOORBELL.size + proto.MAX_EVENTS * proto.EVENT.size
    assert size + proto.MAX_SPAN * proto.ROUTE.size <= 4096


def test_layout_places_buffers_state_and_error_without_overlap() -> None:
    layout = proto.Layout.of(512, [(2, 3), (1, 1)])
    first, second = layout.regions
    assert first.base == proto.HEADER_BYTES >= proto.RUNNING.size
    assert first.buffer_offset(3) + first.buffer_bytes == first.state_offset
    assert first.error_offset == first.state_offset + proto.STATE_HEADER.size + proto.STATE_CAPACITY
    assert first.error_offset + proto.ERROR_AREA <= first.end == second.base
    assert second.buffer_bytes == 512 * 4 and second.end == layout.size
    assert all(r.base % 64 == 0 for r in layout.regions)


def test_segment_names_are_recognisable_and_unique() -> None:
    a, b = proto.segment_name(), proto.segment_name()
    assert a != b and a.startswith(f"aers-{os.getpid()}-")


def test_blob_roundtrip_and_size_cap() -> None:
    r, w = os.pipe()
    try:
        proto.send_blob(w, {"a": [1, 2]})
        assert proto.recv_blob(r) == {"a": [1, 2]}
        proto.send_blob(w, "x" * 100)
        with pytest.raises(ValueError, match="limit"):
            proto.recv_blob(r, limit=10)
    finally:
        os.close(r)
        os.close(w)


def test_read_exact_times_out_and_sees_eof() -> None:
    import time

    r, w = os.pipe()
    with pytest.raises(TimeoutError):
        proto.read_exact(r, 4, time.monotonic() + 0.01)
    os.close(w)
    with pytest.raises(EOFError):
        proto.read_exact(r, 4)
    os.close(r)


def test_read_text_is_safe_on_garbage() -> None:
    buf = memoryview(bytearray(b"\xffok\x00rest"))
    assert proto.read_text(buf, 0, len(buf)) == "\ufffdok"


@pytest.mark.security
def test_deeply_nested_json_from_a_worker_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="deeply"):
        proto.parse_json(b"[" * 100_000 + b"]" * 100_000)
