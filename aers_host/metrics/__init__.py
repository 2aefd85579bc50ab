"""Run metrics: per-node timing, CPU, xruns, levels and BS.1770 loudness, exporters, reports."""

from ._collector import MetricsCollector, warm_kernels
from ._cpu import CpuClock, proc_cpu_seconds
from ._export import prometheus_text, write_csv, write_json
from ._loudness import (
    block_power,
    integrated_loudness,
    loudness_range,
    measure,
    meter_for,
    momentary_loudness,
    sample_peak_db,
    short_term_loudness,
    true_peak_db,
)
from ._meter import LoudnessMeter, LoudnessStats
from ._report import layered_layout, write_report
from ._schema import metrics_schema
from ._weighting import k_weighting, k_weighting_sos
from ._wiring import (
    BusMeter,
    RunObserver,
    collector_from_render,
    export_run,
    merge_summaries,
)

__all__ = [
    "BusMeter",
    "CpuClock",
    "LoudnessMeter",
    "LoudnessStats",
    "MetricsCollector",
    "RunObserver",
    "block_power",
    "collector_from_render",
    "export_run",
    "integrated_loudness",
    "k_weighting",
    "k_weighting_sos",
    "layered_layout",
    "loudness_range",
    "measure",
    "merge_summaries",
    "meter_for",
    "metrics_schema",
    "momentary_loudness",
    "proc_cpu_seconds",
    "prometheus_text",
    "sample_peak_db",
    "short_term_loudness",
    "true_peak_db",
    "warm_kernels",
    "write_csv",
    "write_json",
    "write_report",
]
