"""The lock-free frame ring between the engine thread and the JACK callback."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from aers_host.device import FrameRing


def test_frames_come_out_in_order_across_the_wrap() -> None:
    ring = FrameRing(2, 10)
    src = np.arange(2 * 70, dtype=np.float32).reshape(2, 70)
    out = np.zeros_like(src)
    done = 0
    for size in (7, 3, 9, 10, 1, 6, 8, 10, 9, 7):  # sizes that straddle the end of storage
        ring.write(src[:, done : done + size])
        assert ring.fill == size and ring.space() == 10 - size
        ring.read_into(out[:, done : done + size])
        done += size
    np.testing.assert_array_equal(out[:, :done], src[:, :done])


def test_per_channel_rows_silence_and_skip() -> None:
    ring = FrameRing(2, 8)
    ring.write_silence(3)
    ring.write_channels([np.full(6, 1.0, np.float32), np.full(6, 2.0, np.float32)], 5)
    assert ring.fill == 8 and ring.space() == 0
    ring.skip(2)
    rows = [np.full(6, -1.0, np.float32), np.full(6, -1.0, np.float32)]
    ring.read_channels(rows, 6)
    np.testing.assert_array_equal(rows[0], [0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(rows[1], [0, 2, 2, 2, 2, 2])


def test_a_producer_and_a_consumer_thread_lose_nothing() -> None:
    """One writer and one reader, no lock: every frame arrives once, in order."""
    ring = FrameRing(1, 64)
    total = 20_000
    src = np.arange(total, dtype=np.float32)[None, :]
    got = np.zeros_like(src)

    def produce() -> None:
        done = 0
        while done < total:
            size = min(48, total - done)
            if ring.space() >= size:
                ring.write(src[:, done : done + size])
                done += size

    producer = threading.Thread(target=produce)
    producer.start()
    done = 0
    while done < total:
        size = min(ring.fill, 32, total - done)
        if size:
            ring.read_into(got[:, done : done + size])
            done += size
    producer.join()
    np.testing.assert_array_equal(got, src)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameRing(1, 0)
