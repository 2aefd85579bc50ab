"""Fuzz every operation of ``aers serve``'s OpenAPI schema with schemathesis.

schemathesis reads the server's own ``/openapi.json`` and generates requests for every
operation — valid ones and ones that break the schema (wrong types, missing fields,
strange path parameters) — against a real server (uvicorn with ``aers serve``'s settings,
its engine running). Every answer must be below 500 (no internal error), and every error
answer must be the documented error body (``{"v", "type": "error", "code", "message",
"req"}``, docs/feed.md). Calls in one test share the server, so edits accumulate: later
requests run against a graph earlier ones changed, which is the stateful part.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import fuzzing
import pytest
import schemathesis
from fuzzing import EDGE_NUMBERS, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from .conftest import Served

Serve = Callable[..., Served]
#: Examples per operation and phase (12 by default): the API has about a dozen operations.
EXAMPLES = max(1, fuzzing.EXAMPLES // 5)


def _assert_documented(response: Any, label: str) -> None:
    assert response.status_code < 500, (label, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert body["type"] == "error" and body["code"] and body["message"], (label, body)
        assert {"v", "type", "code", "message", "req"} <= set(body), (label, body)


#: Edge values a JSON body can carry (requests refuses NaN and infinities; the server's own
#: refusal of those literals is tested in test_server_rest_errors.py).
SENDABLE = EDGE_NUMBERS.filter(lambda v: not isinstance(v, float) or math.isfinite(v))
IDS = ["tone", "hiss", "g", "eq1", "bus", "main", "nope"]
TYPES = ["sine", "noise", "gain", "eq", "delay", "limiter", "mix", "output", "reverb", "nope"]
PARAMS = ["gain_db", "freq", "level_db", "samples", "ms", "mix", "lookahead_ms", "bands", "x"]
_ID = st.sampled_from(IDS) | st.text(max_size=4)
_OPS = st.one_of(
    st.fixed_dictionaries({"op": st.just("set_param"), "id": _ID,
                           "param": st.sampled_from(PARAMS), "value": SENDABLE}),
    st.fixed_dictionaries({"op": st.just("add_node"), "id": st.sampled_from(["n1", "n2"]),
                           "type": st.sampled_from(TYPES)},
                          optional={"params": st.dictionaries(st.sampled_from(PARAMS),
                                                              SENDABLE, max_size=2)}),
    st.fixed_dictionaries({"op": st.just("remove_node"), "id": _ID}),
    st.fixed_dictionaries({"op": st.sampled_from(["connect", "disconnect", "set_gain"]),
                           "from": _ID, "to": _ID},
                          optional={"gain_db": SENDABLE, "tap": st.just("pre"),
                                    "port": st.sampled_from(["main", "sidechain"])}),
)  # fmt: skip
#: Bodies the graph understands: real node ids, op names and parameters, edge values.
TARGETED = st.fixed_dictionaries(
    {
        "node": st.sampled_from(IDS),
        "edit": _OPS | st.lists(_OPS, min_size=1, max_size=3),
        "param": st.fixed_dictionaries({"param": st.sampled_from(PARAMS), "value": SENDABLE}),
    }
)


def _aimed(case: Any, extra: dict[str, Any]) -> Any:
    """``case`` pointed at the real graph: a real node id, and a body from ``TARGETED``."""
    if "node_id" in (case.path_parameters or {}):
        case.path_parameters["node_id"] = extra["node"]
    if case.operation.label == "POST /api/edits":
        case.body = extra["edit"]
    elif case.operation.label == "POST /api/nodes/{node_id}/params":
        case.body = extra["param"]
    return case


@pytest.mark.security
def test_every_operation_answers_without_an_internal_error(serve: Serve) -> None:
    served = serve()
    schema = schemathesis.openapi.from_url(f"{served.http}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /api/edits", "POST /api/nodes/{node_id}/params",
            "POST /api/plugins/{name}/reload", "GET /api/graph"} <= labels  # fmt: skip
    for operation in operations:
        _fuzz(operation.as_strategy(), operation.label, served.http)
        if operation.path_parameters or operation.body:  # again, aimed at the real graph
            aimed = st.builds(_aimed, operation.as_strategy(), TARGETED)
            _fuzz(aimed, operation.label, served.http)
    with served.client() as http:  # the engine survived all of it and still answers
        assert http.get("/api/graph").status_code == 200


def _fuzz(cases: st.SearchStrategy[Any], label: str, base_url: str) -> None:
    """Send ``EXAMPLES`` generated requests of one operation to the server."""

    @given(case=cases)
    @fuzz_settings(examples=EXAMPLES)
    def call(case: Any) -> None:
        _assert_documented(case.call(base_url=base_url, timeout=30), label)

    call()
