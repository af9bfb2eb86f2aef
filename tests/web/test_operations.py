"""Health, readiness, metrics, headers, logs and failure answers."""

from __future__ import annotations

import json
import re

import pytest
import structlog
from fastapi.testclient import TestClient

from authbridge.config import load_settings
from authbridge.web.app import create_app
from authbridge.web.observability import configure_logging
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, sign_in, sign_up


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["storage"] == "ok"


def test_unreachable_database_fails_readiness_and_sign_in_not_liveness() -> None:
    # A port nothing listens on: the app must start and answer anyway.
    settings = load_settings(None, {"DATABASE__URL": "postgresql://nobody@127.0.0.1:9/none"})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        page = client.get("/login", headers={"accept": "text/html"})
        assert page.status_code == 503 and "cannot reach its database" in page.text
        assert page.headers["retry-after"]
        api = client.get("/api/v1/system/config/jwks")
        assert api.status_code == 503 and api.json()["error"] == "temporarily_unavailable"


def test_metrics_count_sign_ins_by_method_and_outcome(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    sign_in(client, password="wrong wrong wrong")
    sign_in(client)
    text = client.get("/metrics").text
    assert re.search(r'authbridge_sign_ins_total\{method="password",outcome="failure"\} 1\.0', text)
    assert re.search(r'authbridge_sign_ins_total\{method="password",outcome="success"\} 1\.0', text)
    assert (
        'authbridge_http_request_duration_seconds_bucket{le="0.005",method="GET",'
        'route="/login"' in text
    )


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    made = client.get("/healthz", headers={"x-request-id": "bad id\nInjected: 1"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    # A valid id with a trailing newline is not one (`$` would have let it through).
    for bad in ("abc\n", "abc\r", "\u00e9t\u00e9"):
        scope_made = client.get("/healthz", headers=[(b"x-request-id", bad.encode())])
        assert re.fullmatch(r"[0-9a-f]{32}", scope_made.headers["x-request-id"])


def test_logs_are_json_with_request_id_and_no_secrets(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    client = app_factory()
    capsys.readouterr()
    sign_up(client)
    client.get("/account")
    client.cookies.delete("authbridge_session")
    sign_in(client, password="my-wrong-secret-guess")
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.err.splitlines() if line.startswith("{")]
    assert lines and all("request_id" in line for line in lines if line["event"] == "request")
    logged = out.err + out.out
    for secret in (PASSWORD, "my-wrong-secret-guess"):
        assert secret not in logged
    session = client.cookies.get("authbridge_session")
    assert session is None or session not in logged
    assert "eyJ" not in logged  # no JWT
    structlog.reset_defaults()


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_malformed_requests_are_clear_4xx(client: TestClient) -> None:
    assert client.get("/no/such/page", headers={"accept": "text/html"}).status_code == 404
    assert client.get("/no/such/page").json()["error"] == "not_found"
    assert client.put("/login").status_code == 405
    huge = client.post(
        "/login", data={"username": "x" * 100_000, "password": "y", "csrf_token": "z"}
    )
    assert huge.status_code == 413  # refused while it streams, before any work is done
    garbage = client.post(
        "/login",
        content=b"\xff\xfe\x00garbage",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= garbage.status_code < 500


def test_discovery_and_jwks_are_cacheable_bytes(client: TestClient) -> None:
    discovery = client.get("/.well-known/openid-configuration")
    document = discovery.json()
    assert document["issuer"] == "http://localhost:8080"
    assert document["jwks_uri"] == "http://localhost:8080/api/v1/system/config/jwks"
    jwks = client.get("/api/v1/system/config/jwks")
    assert jwks.headers["content-type"] == "application/jwk-set+json"
    max_age = int(re.search(r"max-age=(\d+)", jwks.headers["cache-control"]).group(1))
    assert 0 < max_age <= 600 // 2 + 1  # shorter than keyPublishAhead (default 600 s)
    again = client.get(
        "/api/v1/system/config/jwks", headers={"if-none-match": jwks.headers["etag"]}
    )
    assert again.status_code == 304
