"""The lane pool: jobs run on the workers, errors come back, close and GC stop the threads."""

from __future__ import annotations

import gc
import threading

import pytest

from aers_host.graph._pool import LanePool


def test_each_worker_runs_its_job_on_its_own_thread() -> None:
    pool = LanePool(2)
    seen: dict[int, int] = {}
    try:
        for _ in range(3):
            pool.start([lambda: seen.__setitem__(0, threading.get_ident()),
                        lambda: seen.__setitem__(1, threading.get_ident())])  # fmt: skip
            pool.wait(2)
        assert set(seen.values()) == {t.ident for t in pool.threads}
        assert threading.get_ident() not in seen.values()
    finally:
        pool.close()


def test_a_job_error_is_raised_by_wait_after_every_worker_finished() -> None:
    pool = LanePool(2)
    finished = threading.Event()

    def fail() -> None:
        raise RuntimeError("plugin exploded")

    def slow() -> None:
        finished.wait(0.05)
        finished.set()

    try:
        pool.start([fail, slow])
        with pytest.raises(RuntimeError, match="plugin exploded"):
            pool.wait(2)
        assert finished.is_set()  # the other lane was waited for before the raise
        pool.start([lambda: None, lambda: None])  # the pool still works afterwards
        pool.wait(2)
    finally:
        pool.close()


def test_close_joins_the_workers_and_is_idempotent() -> None:
    pool = LanePool(2)
    threads = pool.threads
    pool.close()
    pool.close()
    assert pool.closed
    assert not any(t.is_alive() for t in threads)


def test_an_unreferenced_pool_stops_its_workers() -> None:
    pool = LanePool(1)
    threads = pool.threads
    del pool
    gc.collect()
    for thread in threads:
        thread.join(5.0)
    assert not any(t.is_alive() for t in threads)


def test_workers_need_at_least_one_thread() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        LanePool(0)
