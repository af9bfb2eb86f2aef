"""`/api/v1/clients`: CRUD through the one validator, ETag/If-Match, read-only config and
built-in clients, and zero-downtime secret rotation proven by real client_credentials
grants at the token endpoint."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from authbridge.clock import utcnow
from authbridge.web.observability import configure_logging
from tests.web.api.conftest import Api, assert_problem

WEB = {"clientId": "web", "name": "Web", "redirectUris": ["https://web.example/cb"]}


def _grant(api: Api, client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = api.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
    )
    if response.status_code == 401:
        assert response.json()["error"] == "invalid_client"
    return response.status_code


def _service_account(api: Api) -> tuple[str, str]:
    created = api.post("/api/v1/service-accounts", json={"name": "etl", "role": "viewer"})
    assert created.status_code == 201, created.text
    body = created.json()
    return body["clientId"], body["clientSecret"]


def test_create_shows_the_secret_once_and_get_never(api: Api) -> None:
    created = api.post("/api/v1/clients", json=WEB)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/clients/web"
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    secret = body["clientSecret"]
    assert len(secret) >= 40 and body["source"] == "database" and body["public"] is False
    got = api.get("/api/v1/clients/web")
    assert got.status_code == 200 and secret not in got.text and "clientSecret" not in got.json()
    assert got.headers["etag"] == created.headers["etag"]
    listed = api.get("/api/v1/clients").json()
    assert secret not in str(listed)
    sources = {c["clientId"]: c["source"] for c in listed["items"]}
    assert sources["web"] == "database" and sources["authbridge-cli"] == "builtin"
    assert_problem(api.post("/api/v1/clients", json=WEB), 409, "already-exists")


def test_invalid_clients_are_400_naming_each_field(api: Api) -> None:
    body = {**WEB, "redirectUris": ["https://web.example/cb#x"], "grantTypes": ["password"]}
    problem = assert_problem(api.post("/api/v1/clients", json=body), 400, "invalid-request")
    assert {e["field"] for e in problem["errors"]} == {"redirectUris[0]", "grantTypes[0]"}
    problem = assert_problem(
        api.post("/api/v1/clients", json={**WEB, "unknown": 1}), 400, "invalid-request"
    )
    assert_problem(api.get("/api/v1/clients/web"), 404, "not-found")


def test_patch_needs_if_match_and_loses_no_update(api: Api) -> None:
    etag = api.post("/api/v1/clients", json=WEB).headers["etag"]
    change = {"name": "Web 2", "accessTokenLifetime": 600}
    assert_problem(api.patch("/api/v1/clients/web", json=change), 428, "precondition-required")
    changed = api.patch("/api/v1/clients/web", json=change, headers={"if-match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Web 2" and changed.json()["accessTokenLifetime"] == 600
    assert changed.headers["etag"] != etag
    stale = api.patch("/api/v1/clients/web", json={"name": "Lost"}, headers={"if-match": etag})
    assert_problem(stale, 412, "precondition-failed")
    current = changed.headers["etag"]
    cleared = api.patch(
        "/api/v1/clients/web", json={"accessTokenLifetime": None}, headers={"if-match": current}
    )
    assert cleared.status_code == 200 and cleared.json()["accessTokenLifetime"] is None
    assert api.get("/api/v1/clients/web").json()["name"] == "Web 2"
    bad = api.patch("/api/v1/clients/web", json={"grantTypes": ["nope"]}, headers={"if-match": "*"})
    assert_problem(bad, 400, "invalid-request")


def test_config_and_builtin_clients_are_read_only(api: Api) -> None:
    for response in (
        api.patch("/api/v1/clients/authbridge-cli", json={"name": "x"}, headers={"if-match": "*"}),
        api.delete("/api/v1/clients/authbridge-cli"),
        api.post("/api/v1/clients/authbridge-cli/secret", json={}),
        api.post("/api/v1/clients", json={"clientId": "authbridge-cli"}),
    ):
        assert assert_problem(response, 409, "read-only")["managedBy"] == "config"


def test_delete_revokes_and_is_404_after(api: Api) -> None:
    api.post("/api/v1/clients", json=WEB)
    assert api.delete("/api/v1/clients/web").status_code == 204
    assert_problem(api.delete("/api/v1/clients/web"), 404, "not-found")


def test_old_secret_keeps_working_until_its_expiry_while_the_new_one_works(api: Api) -> None:
    client_id, old = _service_account(api)
    assert _grant(api, client_id, old) == 200
    rotated = api.post(f"/api/v1/clients/{client_id}/secret", json={"previousSecretExpiresIn": 600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["clientSecret"]
    expires = rotated.json()["previousSecretExpiresAt"]
    assert new != old and expires is not None
    got = api.get(f"/api/v1/clients/{client_id}").json()
    assert got["previousSecretExpiresAt"] == expires
    # Both work now, on the same cached client; a wrong secret still does not.
    assert _grant(api, client_id, old) == 200
    assert _grant(api, client_id, new) == 200
    assert _grant(api, client_id, "wrong-" + new) == 401
    # The provider's clock passes the old secret's expiry: refused without any reload.
    provider = api.ready.provider
    provider.clock = lambda: utcnow() + timedelta(seconds=601)
    assert _grant(api, client_id, old) == 401
    assert _grant(api, client_id, new) == 200
    assert _grant(api, client_id, "wrong-" + new) == 401
    assert api.get(f"/api/v1/clients/{client_id}").json()["previousSecretExpiresAt"] is None


def test_rotation_with_zero_refuses_the_old_secret_at_once(api: Api) -> None:
    client_id, old = _service_account(api)
    rotated = api.post(f"/api/v1/clients/{client_id}/secret", json={"previousSecretExpiresIn": 0})
    assert rotated.json()["previousSecretExpiresAt"] is None
    assert _grant(api, client_id, old) == 401
    assert _grant(api, client_id, rotated.json()["clientSecret"]) == 200
    default = api.post(f"/api/v1/clients/{client_id}/secret")  # no body: one hour
    assert default.status_code == 200, default.text
    for out_of_range in (-1, 30 * 86400 + 1):
        response = api.post(
            f"/api/v1/clients/{client_id}/secret", json={"previousSecretExpiresIn": out_of_range}
        )
        assert_problem(response, 400, "invalid-request")
    assert_problem(api.post("/api/v1/clients/nobody/secret", json={}), 404, "not-found")


def test_created_and_rotated_secrets_never_reach_the_logs(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    capsys.readouterr()
    secret = api.post("/api/v1/clients", json=WEB).json()["clientSecret"]
    rotated = api.post("/api/v1/clients/web/secret", json={}).json()["clientSecret"]
    client_id, sa_secret = _service_account(api)
    token = api.post("/api/v1/robots", json={"name": "ci"}).json()["token"]
    assert _grant(api, client_id, sa_secret) == 200
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    assert "/api/v1/clients" in logged  # the requests were logged
    for value in (secret, rotated, sa_secret, token):
        assert value not in logged


def test_a_service_accounts_client_changes_only_with_its_account(api: Api) -> None:
    client_id, secret = _service_account(api)
    for response in (
        api.patch(f"/api/v1/clients/{client_id}", json={"name": "x"}, headers={"if-match": "*"}),
        api.delete(f"/api/v1/clients/{client_id}"),
    ):
        problem = assert_problem(response, 409, "read-only")
        assert problem["managedBy"] == "service-account"
    assert _grant(api, client_id, secret) == 200
