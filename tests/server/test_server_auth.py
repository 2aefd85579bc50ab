"""Token, Host allowlist and WebSocket Origin checks on every request and handshake."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import Served
from .server_helpers import TOKEN

Serve = Callable[..., Served]
PATHS = [
    "/",
    "/static/app.js",
    "/api/graph",
    "/api/nodes",
    "/api/metrics",
    "/metrics",
    "/openapi.json",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_needs_the_token(serve: Serve, path: str) -> None:
    served = serve(token=TOKEN)
    with served.client() as http:
        refused = http.get(path)
        assert refused.status_code == 401
        body = refused.json()  # the feed's error body, like every other REST refusal
        assert (body["type"], body["code"]) == ("error", "unauthorized") and body["message"]
        assert (
            http.get(path, headers={"authorization": "Bearer wrong-token-000000"}).status_code
            == 401
        )
        assert http.get(path, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_query_token_sets_a_strict_cookie_for_the_page_assets(serve: Serve) -> None:
    served = serve(token=TOKEN)
    with served.client() as http:
        page = http.get(f"/?token={TOKEN}")
        assert page.status_code == 200
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert http.get("/static/app.js").status_code == 200  # the cookie jar sends it
    with served.client() as http:
        assert http.get("/static/app.js").status_code == 401
        assert http.get("/", params={"token": "nope"}).status_code == 401


def test_websocket_needs_the_token(serve: Serve) -> None:
    served = serve(token=TOKEN)
    with pytest.raises(InvalidStatus) as info, connect(served.ws):
        pass
    assert info.value.response.status_code == 403
    with connect(f"{served.ws}?token={TOKEN}") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "graph"
    with connect(served.ws, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "graph"


def test_foreign_host_header_is_refused(serve: Serve) -> None:
    served = serve()
    with served.client() as http:
        refused = http.get("/api/graph", headers={"host": "evil.example:80"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert http.get("/api/graph").status_code == 200


def test_cross_origin_websocket_is_refused(serve: Serve) -> None:
    served = serve()
    host = served.http.removeprefix("http://")
    with pytest.raises(InvalidStatus), connect(served.ws, origin="http://evil.example"):  # type: ignore[arg-type]
        pass
    with connect(served.ws, origin=f"http://{host}") as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(timeout=5))["type"] == "graph"


#: What a page on another site sends with its request (a form post or ``fetch(no-cors)``).
CROSS_SITE = [
    pytest.param({"origin": "http://evil.example", "sec-fetch-site": "cross-site"}, id="both"),
    pytest.param({"origin": "http://evil.example"}, id="origin-only"),
    pytest.param({"origin": "null"}, id="opaque-origin"),
    pytest.param({"sec-fetch-site": "cross-site"}, id="fetch-site-only"),
    pytest.param({"sec-fetch-site": "same-site"}, id="another-port-on-localhost"),
]


@pytest.mark.security
@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize("token", [None, TOKEN], ids=["loopback-no-token", "with-token"])
def test_cross_site_state_changes_are_refused_whatever_the_body(
    serve: Serve, headers: dict[str, str], token: str | None
) -> None:
    """Attack: a page in the user's browser POSTs to the loopback dashboard (no body needed)."""
    served = serve(token=token)
    auth = {"authorization": f"Bearer {TOKEN}"} if token else {}
    edit = {"op": "set_param", "id": "g", "param": "gain_db", "value": -3}
    with served.client(headers=auth) as http:
        for method, path, body in (
            ("POST", "/api/plugins/acme/reload", None),
            ("POST", "/api/edits", edit),
            ("POST", "/api/nodes/g/params", {"param": "gain_db", "value": -3}),
        ):
            refused = http.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (path, refused.text)
            answer = refused.json()
            assert (answer["type"], answer["code"]) == ("error", "forbidden")
            assert answer["message"].startswith(("cross-site request", "cross-origin request"))
        assert http.get("/api/edits").json()["journal"] == []  # nothing was changed
        assert http.get("/api/nodes/g/params").json()["gain_db"]["value"] == -40.0
        assert http.get("/api/graph", headers=headers).status_code == 200  # reading is safe


def test_same_origin_pages_and_non_browser_clients_still_change_state(serve: Serve) -> None:
    served = serve()
    host = served.http.removeprefix("http://")
    body = {"param": "gain_db", "value": -6}
    with served.client() as http:
        for headers in (
            {},  # the CLI, curl, scripts: no browser headers at all
            {"origin": f"http://{host}", "sec-fetch-site": "same-origin"},  # the dashboard
            {"origin": f"http://{host}"},  # a browser without Fetch Metadata
        ):
            done = http.post("/api/nodes/g/params", json=body, headers=headers)
            assert done.status_code == 200, (headers, done.text)
