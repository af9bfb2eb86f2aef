"""`/api/v1/service-accounts`: create (secret once), list, get, delete (its tokens stop)."""

from __future__ import annotations

import base64

from tests.web.api.conftest import Api, assert_problem


def _token(api: Api, client_id: str, secret: str) -> str | None:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = api.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
    )
    return response.json()["access_token"] if response.status_code == 200 else None


def test_lifecycle(api: Api) -> None:
    created = api.post(
        "/api/v1/service-accounts",
        json={"name": "etl", "role": "editor", "accessTokenLifetime": 600},
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/api/v1/service-accounts/etl"
    body = created.json()
    secret = body["clientSecret"]
    assert body["clientId"] == "sa-etl" and body["roles"] == ["editor"] and body["active"]
    got = api.get("/api/v1/service-accounts/etl")
    assert got.status_code == 200 and secret not in got.text
    listed = api.get("/api/v1/service-accounts").json()
    assert [a["name"] for a in listed["items"]] == ["etl"] and listed["nextCursor"] is None
    assert_problem(
        api.post("/api/v1/service-accounts", json={"name": "etl"}), 409, "already-exists"
    )
    token = _token(api, "sa-etl", secret)
    assert token is not None
    assert api.delete("/api/v1/service-accounts/etl").status_code == 204
    assert _token(api, "sa-etl", secret) is None  # its client is gone
    introspected = api.ready.provider.access_claims(token)
    assert introspected is None  # the user is disabled: its tokens stop at once
    assert_problem(api.get("/api/v1/service-accounts/etl"), 404, "not-found")
    assert_problem(api.delete("/api/v1/service-accounts/etl"), 404, "not-found")


def test_invalid_input_is_400(api: Api) -> None:
    for body in ({"name": "x", "role": "god"}, {"name": "bad name"}, {"name": "x", "extra": 1}):
        assert_problem(api.post("/api/v1/service-accounts", json=body), 400, "invalid-request")


def test_pages(api: Api) -> None:
    for index in range(5):
        assert api.post("/api/v1/service-accounts", json={"name": f"s{index}"}).status_code == 201
    names: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/service-accounts", params=params).json()
        names += [a["name"] for a in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert names == [f"s{i}" for i in range(5)]
