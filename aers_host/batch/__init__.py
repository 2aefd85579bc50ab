"""Parameter sweeps: many variants of one config, rendered as independent Dask tasks.

Public surface only; the implementation lives in the private modules named below.
"""

from ._axes import MAX_AXIS_VALUES, parse_range
from ._runner import BatchReport, BatchStart, local_client, run_sweep
from ._scheduler import parse_scheduler
from ._summary import CSV_NAME, METRIC_COLUMNS, SQLITE_NAME, STATUSES
from ._sweep import MAX_VARIANTS, SWEEP_SCHEMA, Sweep, Variant, load_sweep, variant_id
from ._task import METRICS_FILE, is_finished, render_variant

__all__ = [
    "CSV_NAME",
    "MAX_AXIS_VALUES",
    "MAX_VARIANTS",
    "METRICS_FILE",
    "METRIC_COLUMNS",
    "SQLITE_NAME",
    "STATUSES",
    "SWEEP_SCHEMA",
    "BatchReport",
    "BatchStart",
    "Sweep",
    "Variant",
    "is_finished",
    "load_sweep",
    "local_client",
    "parse_range",
    "parse_scheduler",
    "render_variant",
    "run_sweep",
    "variant_id",
]
