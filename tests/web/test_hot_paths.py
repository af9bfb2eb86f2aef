"""The hot paths' short stack (web/hot_paths.py): the token endpoint and the public documents
are answered without the router, and still get every layer a user relies on: request id,
security headers, access log and metrics under the route's template, the body limit, the
app's 503 for an outage and its 500 for a bug."""

from __future__ import annotations

import json

import pytest
import structlog
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from authbridge.web.hot_paths import _Front
from authbridge.web.observability import configure_logging
from authbridge.web.wellknown import DISCOVERY_PATH, JWKS_PATH
from tests.web.conftest import AppFactory
from tests.web.metrics import Scrape
from tests.web.test_database_outage import every_connection_held

TOKEN = "/oauth2/token"


def _routed(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that reach the app's router from now on."""
    seen: list[str] = []
    kind = type(client.app.router)  # type: ignore[attr-defined]
    through = kind.__call__

    async def counted(self: object, scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await through(self, scope, receive, send)

    monkeypatch.setattr(kind, "__call__", counted)
    return seen


def test_the_token_endpoint_is_answered_without_the_router(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.get("/healthz")  # the stack is built at the first request
    assert isinstance(client.app.middleware_stack, _Front)  # type: ignore[attr-defined]
    routed = _routed(client, monkeypatch)
    refused = client.post(TOKEN, data={"grant_type": "client_credentials"})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert routed == []
    # Another method on the path, and any other path, go on to the router.
    assert client.get(TOKEN).status_code == 405
    assert client.options(TOKEN).status_code == 204
    assert client.get("/healthz").status_code == 200
    assert routed == [TOKEN, TOKEN, "/healthz"]


def test_a_hot_answer_has_the_layers_of_a_routed_one(client: TestClient) -> None:
    hot = client.post(TOKEN, data={"grant_type": "client_credentials"})
    routed = client.post("/oauth2/revoke", data={"token": "x"})
    assert hot.headers["x-request-id"]
    assert hot.headers["x-request-id"] != routed.headers["x-request-id"]
    shared = {"content-security-policy", "x-content-type-options", "referrer-policy"}
    for name in shared:
        assert hot.headers.get(name) == routed.headers.get(name), name
        assert name in hot.headers


@pytest.mark.parametrize(
    ("method", "path", "status"), [("POST", TOKEN, 401), ("GET", JWKS_PATH, 200)]
)
def test_a_hot_request_is_logged_and_measured_under_its_route(
    app_factory: AppFactory,
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    status: int,
) -> None:
    configure_logging("info", "json")
    try:
        client = app_factory()
        capsys.readouterr()
        form = {"grant_type": "client_credentials"} if method == "POST" else None
        client.request(method, path, data=form, headers={"x-request-id": "hot-1"})
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        access = [x for x in lines if x["event"] == "request"]
        assert access[-1]["request_id"] == "hot-1"
        assert access[-1]["route"] == path and access[-1]["status"] == status
        scrape = Scrape(client.get("/metrics").text)
        labels = {"method": method, "route": path, "status": str(status)}
        assert scrape.value("authbridge_http_request_duration_seconds_count", **labels) == 1
    finally:
        structlog.reset_defaults()


def test_the_body_limit_holds_on_the_hot_path(app_factory: AppFactory) -> None:
    client = app_factory(SERVER__MAX_REQUEST_BYTES="2048")
    refused = client.post(TOKEN, data={"grant_type": "client_credentials", "pad": "x" * 4096})
    assert refused.status_code == 413


def test_an_outage_on_the_hot_path_is_a_503(app_factory: AppFactory) -> None:
    client = app_factory(DATABASE__POOL_SIZE="1", DATABASE__POOL_TIMEOUT="0.5")
    engine = client.app.state.services.ready().storage.db.engine  # type: ignore[attr-defined]
    with every_connection_held(engine):
        # An unknown client is looked up in the database: no connection is free.
        answer = client.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()


def test_a_bug_on_the_hot_path_is_the_apps_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = client.app.state.services.ready().provider  # type: ignore[attr-defined]

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(provider, "token", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    answer = quiet.post(TOKEN, data={"grant_type": "client_credentials"})
    assert answer.status_code == 500
    assert "unexpected error" in answer.text


def test_the_public_documents_are_answered_without_the_router(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.get("/healthz")
    routed = _routed(client, monkeypatch)
    assert client.get(JWKS_PATH).json()["keys"]
    assert client.get(DISCOVERY_PATH).json()["token_endpoint"].endswith(TOKEN)
    assert routed == []
    assert client.post(JWKS_PATH).status_code == 405
    assert routed == [JWKS_PATH]
