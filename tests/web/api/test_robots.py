"""`/api/v1/robots`: issue (token once), list, revoke (refused from then on)."""

from __future__ import annotations

from tests.web.api.conftest import Api, assert_problem


def test_issue_list_revoke(api: Api) -> None:
    issued = api.post(
        "/api/v1/robots",
        json={"name": "ci", "role": "viewer", "lifetime": 3600, "description": "CI"},
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    token, robot_id = body["token"], body["id"]
    assert issued.headers["location"] == f"/api/v1/robots/{robot_id}"
    assert body["state"] == "active" and body["username"] == "robot:ci"
    assert api.ready.provider.access_claims(token) is not None
    listed = api.get("/api/v1/robots")
    assert token not in listed.text
    assert [r["id"] for r in listed.json()["items"]] == [robot_id]
    assert_problem(api.post("/api/v1/robots", json={"name": "ci"}), 409, "already-exists")
    assert api.delete(f"/api/v1/robots/{robot_id}").status_code == 204
    assert api.ready.provider.access_claims(token) is None
    assert api.get("/api/v1/robots").json()["items"][0]["state"] == "revoked"
    assert_problem(api.delete(f"/api/v1/robots/{robot_id}"), 404, "not-found")
    assert_problem(api.delete("/api/v1/robots/nope%00"), 404, "not-found")


def test_invalid_input_is_400(api: Api) -> None:
    for body in (
        {"name": "x", "lifetime": 10},
        {"name": "x", "lifetime": 366 * 86400},
        {"name": "x", "role": "god"},
        {"name": "-bad"},
    ):
        assert_problem(api.post("/api/v1/robots", json=body), 400, "invalid-request")
    assert_problem(api.get("/api/v1/robots", params={"cursor": "garbage"}), 400)


def test_pages(api: Api) -> None:
    ids = [api.post("/api/v1/robots", json={"name": f"r{i}"}).json()["id"] for i in range(3)]
    first = api.get("/api/v1/robots", params={"limit": 2}).json()
    second = api.get("/api/v1/robots", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [r["id"] for r in first["items"] + second["items"]] == ids
    assert second["nextCursor"] is None
