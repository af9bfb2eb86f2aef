"""Health routes (web/ops.py): HEAD as well as GET, and readiness while draining."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_routes_answer_head_without_a_body(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        get, head = client.get(path), client.head(path)
        # RFC 9110 §9.3.2: HEAD is GET without content; the same status and fields.
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]


def test_readiness_fails_while_draining_liveness_does_not(client: TestClient) -> None:
    client.app.state.services.draining = True
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    assert client.head("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
