"""Routes of the live metrics: ``GET /api/metrics`` (JSON) and ``GET /metrics`` (Prometheus).

Both read the same counters (``_stats``; docs/feed.md, REST and metrics): timing of the
current graph's blocks, CPU, overruns and the edit counters.

Example:
    >>> app.include_router(router)                              # doctest: +SKIP
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ..._json import to_jsonable
from .._stats import live_summary, prometheus
from .._wire import JsonObject
from ._deps import Shared

#: Content type of the Prometheus text exposition format 0.0.4.
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter()


@router.get("/api/metrics", summary="Live metrics summary (JSON)", response_model=JsonObject)
async def get_metrics(state: Shared) -> JsonObject:
    """Render-style metrics over the current graph's blocks, plus the live counters."""
    summary: JsonObject = to_jsonable(live_summary(state.runtime))
    return summary


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus text 0.0.4")
async def get_prometheus(state: Shared) -> PlainTextResponse:
    """The same metrics in the Prometheus text exposition format 0.0.4."""
    return PlainTextResponse(prometheus(state.runtime), media_type=PROMETHEUS_TYPE)
