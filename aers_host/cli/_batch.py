"""``aers batch``: render every variant of a sweep file on Dask, resumable, with a summary."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .._extras import require_extra
from ._app import app, err_console, out_console, print_json

if TYPE_CHECKING:  # the batch package pulls in dask: imported when a batch runs, not at start-up
    from ..batch import BatchReport, BatchStart, Sweep

#: Failed variants listed under the final table (the rest are in summary.csv).
MAX_FAILURES_SHOWN = 10


@app.command()
def batch(
    sweep: Annotated[
        Path, typer.Argument(help="Sweep file: base config, axes, mode.", show_default=False)
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir", help="Folder for <variant-id>/ and summary.csv.", show_default=False
        ),
    ],
    scheduler: Annotated[
        str,
        typer.Option(
            "--scheduler", help="local (LocalCluster), threads (no cluster) or tcp://HOST:PORT."
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Worker processes (local) or threads; default: CPUs."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and list the variants; render nothing.")
    ] = False,
    allow_fallback: Annotated[
        bool,
        typer.Option(
            "--allow-fallback",
            help="Count variants in which a node played fallback audio as done (as the "
            "sweep's allow_fallback: true does); else they are failed.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = (
        False
    ),
) -> None:
    """Render every variant of SWEEP into OUT_DIR/<variant-id>/; finished variants are skipped.

    Variants render offline (every node waited for; load never changes the audio). One in
    which a node still played fallback audio keeps its files but fails, naming the nodes
    (summary.csv: substituted_samples), unless fallback is allowed.
    Exit 0 when every variant is done or skipped, 1 when any failed (each is in summary.csv).
    """
    require_extra("batch", "aers batch")
    from .._builtins import default_registry
    from ..batch import load_sweep, parse_scheduler

    kind = parse_scheduler(scheduler)
    if workers is not None and "://" in kind:
        err_console.print("note: --workers is ignored with a scheduler address")
    plan = load_sweep(sweep, registry=default_registry())
    if allow_fallback:
        plan = dataclasses.replace(plan, allow_fallback=True)
    dup = f", {plan.duplicates} duplicates dropped" if plan.duplicates else ""
    err_console.print(
        f"{escape(str(sweep))}: {len(plan.variants)} variants ({plan.mode} of {len(plan.axes)} axes"
        f"{dup}), base {escape(str(plan.base))}",
        soft_wrap=True,
    )
    if dry_run:
        _print_variants(plan, as_json)
        return
    report = _run(plan, out_dir, kind, workers, show_bar=sys.stderr.isatty() and not as_json)
    if as_json:
        print_json(_report_json(report))
    else:
        _print_report(report)
    if report.counts["failed"]:
        raise typer.Exit(1)


def _run(
    sweep: Sweep, out_dir: Path, kind: str, workers: int | None, *, show_bar: bool
) -> BatchReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]batch[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task("batch", total=None, failed=0)
        failed = 0

        def started(start: BatchStart) -> None:
            if start.dashboard:
                err_console.print(f"dashboard: {start.dashboard}", soft_wrap=True)
            elif start.dashboard_note:
                err_console.print(f"dashboard: none ({start.dashboard_note})", soft_wrap=True)
            err_console.print(
                f"rendering {start.to_run} variants on {start.scheduler}"
                f" ({start.skipped} already finished)",
                soft_wrap=True,
            )
            bar.update(task, total=start.to_run)

        def finished(row: dict[str, Any]) -> None:
            nonlocal failed
            failed += row["status"] == "failed"
            bar.update(task, advance=1, failed=failed)

        from ..batch import run_sweep

        return run_sweep(
            sweep, out_dir, scheduler=kind, workers=workers, on_start=started, on_result=finished
        )


def _print_variants(sweep: Sweep, as_json: bool) -> None:
    if as_json:
        rows = [{"variant": v.id, **v.values} for v in sweep.variants]
        print_json(rows)
        return
    table = Table(title=f"{len(sweep.variants)} variants")
    for column in ("variant", *sweep.axes):
        table.add_column(column)
    for v in sweep.variants:
        table.add_row(v.id, *(json.dumps(value) for value in v.values.values()))
    out_console.print(table)


def _report_json(report: BatchReport) -> dict[str, Any]:
    start = report.start
    return {
        "out_dir": str(report.out_dir),
        "counts": report.counts,
        "elapsed_s": report.elapsed_s,
        "dashboard": start.dashboard if start else None,
        "summary": [str(p) for p in report.summary_files],
        "rows": report.rows,
    }


def _print_report(report: BatchReport) -> None:
    counts = report.counts
    table = Table(title="batch")
    for column in ("done", "skipped", "failed", "total", "time"):
        table.add_column(column, justify="right")
    table.add_row(
        str(counts["done"]),
        str(counts["skipped"]),
        f"[red]{counts['failed']}[/red]" if counts["failed"] else "0",
        str(len(report.rows)),
        f"{report.elapsed_s:.1f} s",
    )
    out_console.print(table)
    failures = [r for r in report.rows if r["status"] == "failed"]
    for row in failures[:MAX_FAILURES_SHOWN]:
        out_console.print(
            f"[red]failed[/red] {row['variant']}: {escape(row['error'])}", soft_wrap=True
        )
    if len(failures) > MAX_FAILURES_SHOWN:
        out_console.print(f"… and {len(failures) - MAX_FAILURES_SHOWN} more failures")
    out_console.print(f"summary → {escape(str(report.summary_files[0]))}", soft_wrap=True)
