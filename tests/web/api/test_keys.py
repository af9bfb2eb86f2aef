"""`/api/v1/keys`: public facts of the signing keys, and rotation (`keys.read`/`keys.write`,
which an admin holds and an editor does not)."""

from __future__ import annotations

from tests.web.api.conftest import Api, assert_problem


def test_list_shows_public_facts_only(api: Api) -> None:
    listed = api.get("/api/v1/keys")
    assert listed.status_code == 200
    (key,) = listed.json()["items"]
    assert set(key) == {"kid", "alg", "created", "signsFrom", "state", "publishedUntil"}
    assert key["state"] == "signing" and key["publishedUntil"] is None
    assert "PRIVATE" not in listed.text and '"d"' not in listed.text


def test_rotate_publishes_the_next_key(api: Api) -> None:
    before = api.get("/api/v1/keys").json()["items"][0]
    rotated = api.post("/api/v1/keys/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["kid"] != before["kid"] and new["state"] == "next"
    states = {k["kid"]: k["state"] for k in api.get("/api/v1/keys").json()["items"]}
    assert states == {new["kid"]: "next", before["kid"]: "signing"}
    jwks = api.client.get("/.well-known/jwks.json").json()
    assert new["kid"] in {k["kid"] for k in jwks["keys"]}  # published now


def test_keys_need_the_keys_permissions(api: Api) -> None:
    assert_problem(api.get("/api/v1/keys", role="editor"), 403)
    assert_problem(api.post("/api/v1/keys/rotate", role="editor"), 403)
