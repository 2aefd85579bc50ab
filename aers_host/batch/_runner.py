"""Run a sweep's variants as independent Dask tasks and keep the summary current.

Invariants:

* one batch at a time per output folder (an ``flock`` on ``OUT/.aers-batch.lock``);
* finished variants (``OUT/<id>/metrics.json``) are skipped and their rows rebuilt from
  disk, so a re-run resumes after an interruption and a changed variant (new id) renders;
* results are consumed as they complete; ``summary.csv`` is rewritten atomically as they
  arrive (throttled so rewriting stays under ~10 % of the time, see :class:`_Recorder`)
  and both summaries once at the end, also when interrupted; since a variant's result
  lives in its own folder first, an interruption loses nothing finished;
* on a cluster each task may be retried (:data:`RETRIES`) and a task on a worker that dies
  is rescheduled by the scheduler, so killing a worker loses no variant; a task that still
  cannot complete becomes a ``failed`` row;
* the client process's environment is left as it was: the nanny writes its pre-spawn
  variables into ``os.environ`` and we restore it when the cluster closes.

Schedulers: ``local`` (a :class:`LocalCluster` of processes, one thread each, the default),
``threads`` (dask's threaded scheduler in this process, no cluster), or the address of a
running scheduler (``tcp://host:8786``, checked up front and reached within a deadline by
:mod:`._scheduler`), whose workers must see ``OUT`` and the base config at the same paths.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import dask
from dask.base import compute
from dask.callbacks import Callback
from dask.delayed import delayed
from distributed import Client, LocalCluster, as_completed

from ..errors import AersError
from ._scheduler import parse_scheduler, remote_client
from ._summary import SummaryTable
from ._sweep import Sweep, canonical_json
from ._task import (
    PARTIAL_INFIX,
    describe_error,
    is_finished,
    read_metrics,
    render_variant,
    variant_row,
)

#: Extra attempts per task after an exception on a worker (a died worker is separate).
RETRIES: Final = 2
#: Least time between two rewrites of the summary while results arrive.
SUMMARY_INTERVAL_S: Final = 0.5
#: A rewrite waits at least this many times as long as the previous rewrite took.
SUMMARY_BACKOFF: Final = 10.0
LOCK_NAME: Final = ".aers-batch.lock"
#: Nanny pre-spawn variable we clear: 64 KiB trimming made NumPy renders ~40 % slower.
MALLOC_TRIM_KEY: Final = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"

Row = dict[str, Any]
ResultHook = Callable[[Row], None]


@dataclass(frozen=True, slots=True)
class BatchStart:
    """What is known once the scheduler is up, before the first result."""

    #: Variants that will render now.
    to_run: int
    #: Variants finished by an earlier run, reused.
    skipped: int
    #: Scheduler description (``local``, ``threads`` or the address).
    scheduler: str
    #: The Dask dashboard URL, when there is one.
    dashboard: str | None = None
    #: Why there is no dashboard, when there is none.
    dashboard_note: str = ""


@dataclass(slots=True)
class BatchReport:
    """The outcome of a batch: every row and where the summary is."""

    out_dir: Path
    rows: list[Row]
    counts: dict[str, int]
    elapsed_s: float
    start: BatchStart | None = None
    summary_files: list[Path] = field(default_factory=list)


@contextlib.contextmanager
def local_client(workers: int) -> Iterator[Client]:
    """A LocalCluster of ``workers`` processes (one thread each) and a client on it."""
    # distributed ships no type hints, hence the ``no-untyped-call`` ignores in this module.
    with (
        _restored_environ(),
        dask.config.set({MALLOC_TRIM_KEY: None}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: the HTTP server runs even without bokeh
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        yield client


def _has_dashboard() -> bool:
    """Whether the dashboard can be served (it needs bokeh, an optional dependency)."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _restored_environ() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """Hold the batch lock of ``out_dir`` (non-blocking).

    Raises:
        AersError: another batch is writing into ``out_dir``.
    """
    with (out_dir / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AersError(
                f"{out_dir}: another batch is running into this folder; wait for it or "
                "use another --out-dir"
            ) from None
        yield


def run_sweep(
    sweep: Sweep,
    out_dir: Path,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    client: Client | None = None,
    on_start: Callable[[BatchStart], None] | None = None,
    on_result: ResultHook | None = None,
    connect_timeout: float | None = None,
) -> BatchReport:
    """Render every unfinished variant of ``sweep`` into ``out_dir`` and write the summary.

    Args:
        sweep: a loaded (validated) sweep.
        out_dir: the batch folder: ``<id>/`` per variant, ``summary.csv``, ``summary.sqlite``.
        scheduler: ``local``, ``threads`` or a scheduler address (ignored with ``client``).
        workers: processes (``local``) or threads (``threads``); default: CPUs, capped at
            the number of variants to run.
        client: an existing Dask client to use instead of starting one.
        on_start: called once the scheduler is ready.
        on_result: called with each finished row (done or failed), in completion order.
        connect_timeout: seconds to reach a scheduler address (default:
            :data:`._scheduler.CONNECT_TIMEOUT_S`, 10 s).

    Raises:
        AersError: the folder is locked by another batch, the scheduler is unknown or
            malformed, or its address cannot be reached.
        OSError: the folder cannot be written.
    """
    t0 = time.perf_counter()
    kind = "client" if client is not None else parse_scheduler(scheduler)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        table = SummaryTable(list(sweep.axes))
        pending: list[tuple[str, str]] = []
        for variant in sweep.variants:
            table.add(variant.id, variant.values)
            if is_finished(out_dir, variant.id):
                table.update(_skipped_row(out_dir, variant.id, sweep.allow_fallback))
            else:
                pending.append((variant.id, canonical_json(variant.data)))
        _remove_partials(out_dir, [vid for vid, _ in pending])
        table.write(out_dir)
        report = BatchReport(out_dir, [], {}, 0.0)
        recorder = _Recorder(table, out_dir, on_result)
        try:
            if pending:
                args = [
                    (vid, data, str(sweep.base), str(out_dir), sweep.allow_fallback)
                    for vid, data in pending
                ]
                n = max(1, min(workers or os.cpu_count() or 1, len(pending)))
                skipped = len(sweep.variants) - len(pending)
                report.start = _execute(
                    kind, args, n, skipped, client, on_start, recorder, connect_timeout
                )
        finally:
            _remove_partials(out_dir, [vid for vid, _ in pending])
            table.write(out_dir)
        report.rows, report.counts = table.rows(), table.counts()
    report.elapsed_s = time.perf_counter() - t0
    report.summary_files = [out_dir / "summary.csv", out_dir / "summary.sqlite"]
    return report


def _skipped_row(out_dir: Path, vid: str, allow_fallback: bool) -> Row:
    try:
        metrics = read_metrics(out_dir, vid)
    except (OSError, ValueError) as err:
        return {"variant": vid, "status": "skipped", "error": f"unreadable metrics.json: {err}"}
    return variant_row(vid, metrics, "skipped", allow_fallback)


def _remove_partials(out_dir: Path, ids: list[str]) -> None:
    """Delete staging folders left by killed tasks of these variants (nothing else)."""
    wanted = set(ids)
    for entry in out_dir.glob(f"*{PARTIAL_INFIX}*"):
        if entry.name.partition(PARTIAL_INFIX)[0] in wanted and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


class _Recorder:
    """Merges rows into the table, throttles CSV rewrites, forwards rows to the hook.

    A rewrite of a 100 000-row table takes a while, so the pause before the next one is
    the larger of :data:`SUMMARY_INTERVAL_S` and :data:`SUMMARY_BACKOFF` × the last
    rewrite's duration: the summary stays current without the batch waiting on it.
    """

    def __init__(self, table: SummaryTable, out_dir: Path, hook: ResultHook | None) -> None:
        self.table, self.out_dir, self.hook = table, out_dir, hook
        self.next_write = time.monotonic() + SUMMARY_INTERVAL_S

    def __call__(self, row: Row) -> None:
        self.table.update(row)
        now = time.monotonic()
        if now >= self.next_write:
            self.table.write(self.out_dir, sqlite=False)
            took = time.monotonic() - now
            self.next_write = now + max(SUMMARY_INTERVAL_S, SUMMARY_BACKOFF * took)
        if self.hook is not None:
            self.hook(row)


TaskArgs = tuple[str, str, str, str, bool]


def _execute(
    kind: str,
    args: list[TaskArgs],
    workers: int,
    skipped: int,
    client: Client | None,
    on_start: Callable[[BatchStart], None] | None,
    record: _Recorder,
    connect_timeout: float | None = None,
) -> BatchStart:
    if kind == "threads":
        start = BatchStart(len(args), skipped, "threads")
        if on_start is not None:
            on_start(start)
        _run_threads(args, workers, record)
        return start
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(
                local_client(workers) if kind == "local" else remote_client(kind, connect_timeout)
            )
        # a remote scheduler may serve the dashboard; here it needs bokeh
        link = client.dashboard_link if "://" in kind or _has_dashboard() else None
        note = "" if link else "install bokeh>=3.1 for the Dask dashboard"
        start = BatchStart(len(args), skipped, kind, link, note)
        if on_start is not None:
            on_start(start)
        _run_distributed(client, args, record)
        return start


def _run_distributed(client: Client, args: list[TaskArgs], record: _Recorder) -> None:
    futures = {
        client.submit(render_variant, *task, pure=False, retries=RETRIES): task[0] for task in args
    }
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            vid = futures[future]
            try:
                row: Row = future.result()
            except Exception as err:  # e.g. KilledWorker: the task outlived its retries
                row = {"variant": vid, "status": "failed", "error": describe_error(err)}
            future.release()
            record(row)
    finally:
        client.cancel([f for f in futures if f.status == "pending"])  # type: ignore[no-untyped-call]


def _run_threads(args: list[TaskArgs], workers: int, record: _Recorder) -> None:
    """Dask's threaded scheduler; rows are recorded from its post-task hook as they finish."""
    tasks = [
        delayed(render_variant, pure=False)(*task, dask_key_name=f"variant-{task[0]}")
        for task in args
    ]

    def posttask(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if isinstance(result, Mapping) and "variant" in result:
            record(dict(result))

    with Callback(posttask=posttask):  # type: ignore[no-untyped-call]
        compute(  # type: ignore[no-untyped-call]
            *tasks, scheduler="threads", num_workers=workers
        )
