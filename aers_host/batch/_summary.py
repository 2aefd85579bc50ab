"""The batch summary: one row per variant (axis values × metrics), as CSV and SQLite.

Invariants:

* every variant of the sweep has a row from the start (status ``pending``), so an
  interrupted batch's summary still lists what is left to do;
* a row's metrics come from the variant's ``metrics.json`` only (:func:`row_metrics`), so a
  freshly rendered variant and one skipped because it finished earlier read the same way;
* both files are replaced atomically (written beside, then ``os.replace``): a reader never
  sees half a table.

Statuses: ``done`` (rendered by this run), ``skipped`` (finished by an earlier run and
reused), ``failed`` (``error`` says why; re-run on the next batch), ``pending``.

Example:
    >>> table = SummaryTable(["seed"])
    >>> table.add("3f1c0a9b2e4d", {"seed": 1})
    >>> table.update({"variant": "3f1c0a9b2e4d", "status": "failed", "error": "boom"})
    >>> table.counts()
    {'done': 0, 'skipped': 0, 'failed': 1, 'pending': 0}
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

#: Metric columns, in order, after the axis columns and ``status``.
METRIC_COLUMNS: Final = (
    "peak_db",
    "lufs",
    "p99_block_us",
    "latency_samples",
    "xruns",
    "substituted_samples",
    "wall_seconds",
)
STATUSES: Final = ("done", "skipped", "failed", "pending")
CSV_NAME: Final = "summary.csv"
SQLITE_NAME: Final = "summary.sqlite"


def finite_or_none(value: float) -> float | None:
    """``value`` when finite, else None (JSON has no -inf; silence measures -inf)."""
    return value if math.isfinite(value) else None


def row_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns of a variant's ``metrics.json``.

    ``peak_db`` and ``lufs`` are the loudest output's (a graph may have several);
    ``lufs`` is empty when every output is shorter than one 400 ms gating block or silent.
    """
    levels: Mapping[str, Mapping[str, Any]] = metrics.get("levels", {})
    peaks = [v["peak_db"] for v in levels.values() if v.get("peak_db") is not None]
    lufs = [v["lufs"] for v in levels.values() if v.get("lufs") is not None]
    propagation = metrics.get("block_propagation_us", {})
    return {
        "peak_db": max(peaks) if peaks else None,
        "lufs": max(lufs) if lufs else None,
        "p99_block_us": propagation.get("p99"),
        "latency_samples": metrics.get("total_latency_samples"),
        "xruns": metrics.get("xruns"),
        "substituted_samples": metrics.get("substituted_samples"),
        "wall_seconds": metrics.get("wall_seconds"),
    }


def _cell(value: Any) -> str:
    """CSV text of a value: strings as they are, None empty, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, sort_keys=True)


def _sql_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value, sort_keys=True)


class SummaryTable:
    """Rows keyed by variant id, in sweep order; written whole each time."""

    def __init__(self, axes: Sequence[str]) -> None:
        self.axes = list(axes)
        self.columns = ["variant", *self.axes, "status", *METRIC_COLUMNS, "error"]
        self._rows: dict[str, dict[str, Any]] = {}

    def add(self, vid: str, values: Mapping[str, Any]) -> None:
        """Add a pending row for a variant with its axis values."""
        row: dict[str, Any] = dict.fromkeys(self.columns)
        row.update(values)
        row.update(variant=vid, status="pending", error="")
        self._rows[vid] = row

    def update(self, result: Mapping[str, Any]) -> None:
        """Merge a task result (``variant``, ``status``, metrics, ``error``) into its row.

        Raises:
            KeyError: the variant is not in the table (a bug in the caller).
        """
        row = self._rows[str(result["variant"])]
        for key in ("status", "error", *METRIC_COLUMNS):
            if key in result:
                row[key] = result[key]

    def rows(self) -> list[dict[str, Any]]:
        """Every row, in sweep order."""
        return [dict(r) for r in self._rows.values()]

    def counts(self) -> dict[str, int]:
        """How many rows have each status."""
        counts = dict.fromkeys(STATUSES, 0)
        for row in self._rows.values():
            counts[row["status"]] += 1
        return counts

    def write(self, out_dir: Path, *, sqlite: bool = True) -> None:
        """Atomically replace ``summary.csv`` (and ``summary.sqlite``) in ``out_dir``.

        Args:
            out_dir: the batch folder.
            sqlite: also write the SQLite copy (the runner skips it between results).

        Raises:
            OSError: the folder is not writable; the previous files are then intact.
        """
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self._rows.values():
            writer.writerow([_cell(row[c]) for c in self.columns])
        with _replacing(out_dir / CSV_NAME) as tmp:
            tmp.write_text(text.getvalue(), encoding="utf-8")
        if sqlite:
            with _replacing(out_dir / SQLITE_NAME) as tmp:
                self._write_sqlite(tmp)

    def _write_sqlite(self, path: Path) -> None:
        quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in self.columns)
        marks = ", ".join("?" for _ in self.columns)
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute(f"CREATE TABLE variants ({quoted}, PRIMARY KEY (variant))")
            db.executemany(
                f"INSERT INTO variants VALUES ({marks})",  # noqa: S608 (quoted column names)
                ([_sql_value(row[c]) for c in self.columns] for row in self._rows.values()),
            )


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; on success rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
