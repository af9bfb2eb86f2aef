"""`/api/v1/users`: every operation, its problem documents (RFC 9457), preconditions
(RFC 9110 §13.1.1, RFC 6585 §3), merge patch (RFC 7396), and revocation reaching a real
session cookie and a real refresh token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from authbridge.audit.events import AuditEvent
from authbridge.storage.user_admin import session_handle
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.provider.conftest import CLIENTS
from tests.provider.test_token import BASIC, TOKEN, code_for, redeem
from tests.scim.conftest import SCIM_ENV, scim
from tests.web.api.conftest import Api, assert_problem
from tests.web.test_pages import sign_up

USERS = "/api/v1/users"
PASSWORD = "a long enough passphrase"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    """The app with OAuth clients (for real refresh tokens) and the okta SCIM source."""
    settings = make_settings(sqlite_url, **SCIM_ENV).model_copy(update={"clients": CLIENTS})
    with started_clients() as start:
        yield Api(start(create_app(settings)))


@pytest.fixture
def audit(api: Api) -> Recorded:
    recorded = Recorded()
    api.ready.admin.users._audit = recorded
    return recorded


def create(api: Api, email: str, **extra: Any) -> dict[str, Any]:
    response = api.post(USERS, json={"email": email, "password": PASSWORD, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def scim_user(api: Api, username: str) -> dict[str, Any]:
    """A user the okta SCIM source provisions."""
    body = {"schemas": [SCIM_USER], "userName": username, "active": True}
    created = scim(api.client, "okta", "POST", "/Users", json=body)
    assert created.status_code == 201, created.text
    user: dict[str, Any] = created.json()
    return user


def refresh(api: Api, token: str) -> dict[str, Any]:
    body: dict[str, Any] = api.client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"authorization": BASIC},
    ).json()
    return body


def signed_in_user(api: Api) -> tuple[str, str]:
    """A user signed in through the browser (a session cookie on `api.client`) with a real,
    rotated refresh token; returns (user id, live refresh token)."""
    assert sign_up(api.client).status_code == 303
    user = api.ready.storage.users.by_username("ada@example.com")
    assert user is not None
    first = redeem(api.client, code_for(api.client)).json()
    rotated = refresh(api, first["refresh_token"])
    return user.id, rotated["refresh_token"]


def test_create_answers_201_with_location_and_never_the_password(api: Api, audit: Recorded) -> None:
    response = api.post(
        USERS,
        json={
            "email": "Bo@Example.com",
            "password": PASSWORD,
            "displayName": "Bo",
            "role": "editor",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{USERS}/{body['id']}"
    assert PASSWORD not in response.text and "password" not in body
    assert body["username"] == "Bo@example.com" and body["displayName"] == "Bo"
    assert body["managedBy"] is None and body["active"] is True
    fetched = api.get(response.headers["location"])
    assert fetched.json() == body and fetched.headers["etag"] == response.headers["etag"]
    assert api.ready.bindings.effective_roles(body["id"]).system == {"editor"}
    assert audit.types() == ["user.created"]
    assert PASSWORD not in repr(audit.events[0].details)


def test_create_refusals(api: Api) -> None:
    create(api, "dup@example.com")
    assert_problem(
        api.post(USERS, json={"email": "DUP@example.com", "password": PASSWORD}),
        409,
        "already-exists",
    )
    weak = assert_problem(
        api.post(USERS, json={"email": "w@example.com", "password": "password"}), 400
    )
    assert weak["errors"][0]["field"] == "password"
    assert_problem(
        api.post(USERS, json={"email": "r@example.com", "password": PASSWORD, "role": "nope"}),
        400,
        "invalid-request",
    )
    assert_problem(api.post(USERS, json={"email": "x@example.com"}), 400)
    assert_problem(
        api.post(USERS, json={"email": "x@example.com", "password": PASSWORD, "admin": True}),
        400,
    )
    assert_problem(
        api.post(USERS, json={"email": "x@example.com", "password": PASSWORD}, role="viewer"), 403
    )


def test_list_searches_filters_and_pages_by_keyset(api: Api) -> None:
    for name in ("carol", "carla", "dave", "Cara", "erin"):
        create(api, f"{name}@example.com", displayName=f"{name.title()} Q")
    found = api.get(USERS, params={"q": "CAR"}).json()
    assert [u["username"] for u in found["items"]] == [
        "Cara@example.com",
        "carla@example.com",
        "carol@example.com",
    ]
    assert found["nextCursor"] is None
    by_name = api.get(USERS, params={"q": "dave q"}).json()["items"]
    assert [u["username"] for u in by_name] == ["dave@example.com"]
    # `%` and `_` are literal in a search, not wildcards.
    assert api.get(USERS, params={"q": "c_r"}).json()["items"] == []

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "source": "local"}
        if cursor:
            params["cursor"] = cursor
        page = api.get(USERS, params=params).json()
        assert len(page["items"]) <= 2
        seen += [u["username"] for u in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen, key=str.casefold)

    erin = api.get(USERS, params={"q": "erin"}).json()["items"][0]
    assert api.post(f"{USERS}/{erin['id']}/disable").status_code == 200
    disabled = api.get(USERS, params={"status": "disabled"}).json()["items"]
    assert [u["username"] for u in disabled] == ["erin@example.com"]
    admins = api.get(USERS, params={"role": "admin"}).json()["items"]
    assert len(admins) == 1  # the caller's own user
    assert_problem(api.get(USERS, params={"cursor": "!!"}), 400, "invalid-request")
    assert_problem(api.get(USERS, params={"role": "nope"}), 400, "invalid-request")
    assert_problem(api.get(USERS, params={"limit": 0}), 400)
    assert_problem(api.get(USERS, params={"status": "gone"}), 400)


def test_list_filters_by_team_and_scim_source(api: Api) -> None:
    scim_user(api, "sam@example.com")
    local = create(api, "lou@example.com")
    create(api, "max@example.com")
    team_id = api.ready.membership.add_local("ops", local["id"])
    api.ready.bindings.grant("editor", team_id=team_id, origin="test")
    scim_users = api.get(USERS, params={"source": "scim:okta"}).json()["items"]
    assert [u["username"] for u in scim_users] == ["sam@example.com"]
    assert scim_users[0]["managedBy"] == "scim:okta"
    in_team = api.get(USERS, params={"team": team_id}).json()["items"]
    assert [u["id"] for u in in_team] == [local["id"]]
    # The role filter counts a team's system-scope binding as its members' role.
    editors = api.get(USERS, params={"role": "editor"}).json()["items"]
    assert [u["id"] for u in editors] == [local["id"]]
    locals_ = {u["username"] for u in api.get(USERS, params={"source": "local"}).json()["items"]}
    assert {"lou@example.com", "max@example.com"} <= locals_ and "sam@example.com" not in locals_


def test_get_404_is_a_problem(api: Api) -> None:
    assert_problem(api.get(f"{USERS}/nobody"), 404, "not-found")


def test_patch_needs_if_match_and_compares_it(api: Api, audit: Recorded) -> None:
    user = create(api, "pat@example.com")
    url = f"{USERS}/{user['id']}"
    tag = api.get(url).headers["etag"]
    assert_problem(api.patch(url, json={"displayName": "P"}), 428, "precondition-required")
    assert_problem(
        api.patch(url, json={"displayName": "P"}, headers={"if-match": '"stale"'}),
        412,
        "precondition-failed",
    )
    changed = api.patch(
        url,
        content=b'{"displayName": "Pat"}',
        headers={"if-match": tag, "content-type": "application/merge-patch+json"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["displayName"] == "Pat" and changed.headers["etag"] != tag
    # The old tag is stale now: a lost update is refused.
    assert_problem(api.patch(url, json={"displayName": "X"}, headers={"if-match": tag}), 412)
    removed = api.patch(
        url, json={"displayName": None}, headers={"if-match": changed.headers["etag"]}
    )
    assert removed.json()["displayName"] is None
    event = audit.events[-1]
    assert event.type == "user.updated"
    assert event.details == {"before": {"displayName": "Pat"}, "after": {"displayName": None}}
    assert_problem(
        api.patch(url, json={"username": "x"}, headers={"if-match": "*"}), 400, "invalid-request"
    )
    assert_problem(api.patch(f"{USERS}/nobody", json={}, headers={"if-match": "*"}), 404)


def test_patch_email_of_a_local_account_moves_its_username(api: Api) -> None:
    user = create(api, "old@example.com")
    other = create(api, "taken@example.com")
    url = f"{USERS}/{user['id']}"
    moved = api.patch(url, json={"email": "new@example.com"}, headers={"if-match": "*"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["username"] == moved.json()["email"] == "new@example.com"
    assert api.ready.storage.users.by_username("new@example.com") is not None
    assert_problem(api.patch(url, json={"email": other["email"]}, headers={"if-match": "*"}), 409)
    assert_problem(api.patch(url, json={"email": "not an email"}, headers={"if-match": "*"}), 400)


def test_scim_managed_users_name_is_read_only_but_disable_is_an_override(api: Api) -> None:
    created = scim_user(api, "sam@example.com")
    url = f"{USERS}/{created['id']}"
    problem = assert_problem(
        api.patch(url, json={"displayName": "Sammy"}, headers={"if-match": "*"}), 409, "read-only"
    )
    assert problem["managedBy"] == "scim:okta"
    assert api.post(f"{url}/disable").json()["active"] is False
    assert api.post(f"{url}/enable").json()["active"] is True
    assert_problem(api.delete(url), 409, "read-only")


def test_email_of_an_idp_account_is_read_only(api: Api) -> None:
    user = api.ready.storage.users.create(username="gh:1", email="g@example.com", roles=[])
    problem = assert_problem(
        api.patch(f"{USERS}/{user.id}", json={"email": "h@example.com"}, headers={"if-match": "*"}),
        409,
        "read-only",
    )
    assert problem["managedBy"] == "idp"


def test_disable_and_enable_are_idempotent_and_audited(api: Api, audit: Recorded) -> None:
    user = create(api, "dis@example.com")
    url = f"{USERS}/{user['id']}"
    for _ in range(2):
        response = api.post(f"{url}/disable")
        assert response.status_code == 200 and response.json()["active"] is False
    for _ in range(2):
        assert api.post(f"{url}/enable").json()["active"] is True
    assert audit.types() == ["user.created", "user.disabled", "user.enabled"]
    assert_problem(api.post(f"{USERS}/nobody/disable"), 404)


def test_nobody_disables_or_deletes_themselves(api: Api) -> None:
    token = api.token("admin")
    me = api.ready.provider.access_claims(token)["sub"]  # type: ignore[index]
    assert_problem(api.post(f"{USERS}/{me}/disable"), 403, "forbidden")
    assert_problem(api.delete(f"{USERS}/{me}"), 403, "forbidden")
    assert_problem(
        api.patch(f"{USERS}/{me}", json={"active": False}, headers={"if-match": "*"}), 403
    )
    assert api.get(f"{USERS}/{me}").json()["active"] is True


def test_the_last_active_admin_is_protected(api: Api) -> None:
    token = api.token("admin")
    me = api.ready.provider.access_claims(token)["sub"]  # type: ignore[index]
    other = api.user("admin")
    # Two admins: the other one may go; then the caller is the last, which no one may
    # remove (the CLI acts as no user, so only the last-admin rule stops it).
    assert api.post(f"{USERS}/{other}/disable").status_code == 200
    from authbridge.admin.errors import Forbidden
    from authbridge.audit.events import Actor

    with pytest.raises(Forbidden, match="last active system admin"):
        api.ready.admin.users.disable(Actor("cli", id="root"), me)
    with pytest.raises(Forbidden, match="last active system admin"):
        api.ready.admin.users.delete(Actor("cli", id="root"), me)


def test_delete_ends_everything_then_deletes(api: Api, audit: Recorded) -> None:
    user_id, token = signed_in_user(api)
    response = api.delete(f"{USERS}/{user_id}")
    assert response.status_code == 204 and response.content == b""
    assert_problem(api.get(f"{USERS}/{user_id}"), 404)
    assert_problem(api.delete(f"{USERS}/{user_id}"), 404)
    assert refresh(api, token)["error"] == "invalid_grant"
    assert api.client.get("/account", follow_redirects=False).status_code == 303
    assert audit.types()[-1] == "user.deleted"


def test_revoke_ends_a_real_session_cookie_and_refresh_token(api: Api, audit: Recorded) -> None:
    user_id, token = signed_in_user(api)
    assert api.client.get("/account", follow_redirects=False).status_code == 200
    response = api.post(f"{USERS}/{user_id}/revoke")
    assert response.status_code == 200 and response.json()["revoked"] >= 2
    assert api.client.get("/account", follow_redirects=False).status_code == 303
    assert refresh(api, token)["error"] == "invalid_grant"
    assert api.get(f"{USERS}/{user_id}").json()["active"] is True
    assert audit.types() == ["user.credentials_revoked"]


def test_a_password_reset_link_is_returned_once_without_smtp(api: Api, audit: Recorded) -> None:
    user_id, _ = signed_in_user(api)
    response = api.post(f"{USERS}/{user_id}/password-reset")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["emailed"] is False and "/password/reset/" in body["link"]
    assert audit.types() == ["user.password_reset_issued"]
    assert_problem(api.post(f"{USERS}/nobody/password-reset"), 404)


def test_sessions_are_listed_by_handle_and_end_one_by_one(api: Api, audit: Recorded) -> None:
    user_id, _ = signed_in_user(api)
    listed = api.get(f"{USERS}/{user_id}/sessions").json()["items"]
    assert len(listed) == 1
    cookie_values = set(api.client.cookies.values())
    stored = api.ready.storage.user_admin.sessions(user_id, listed[0]["createdAt"] and _now())
    assert listed[0]["id"] == session_handle(stored[0].id_hash)
    assert listed[0]["id"] not in cookie_values and listed[0]["id"] != stored[0].id_hash
    assert listed[0]["authMethod"] and "createdAt" in listed[0] and "lastSeenAt" in listed[0]
    url = f"{USERS}/{user_id}/sessions/{listed[0]['id']}"
    assert api.delete(url).status_code == 204
    assert api.client.get("/account", follow_redirects=False).status_code == 303
    assert_problem(api.delete(url), 404)
    assert audit.types() == ["session.revoked"]


def test_refresh_token_families_are_listed_and_revoked(api: Api, audit: Recorded) -> None:
    user_id, token = signed_in_user(api)
    families = api.get(f"{USERS}/{user_id}/refresh-tokens").json()["items"]
    assert len(families) == 1 and families[0]["clientId"] == "webapp"
    assert families[0]["lastUsedAt"] is not None  # it rotated once
    url = f"{USERS}/{user_id}/refresh-tokens/{families[0]['id']}"
    assert api.delete(url).status_code == 204
    assert refresh(api, token)["error"] == "invalid_grant"
    assert api.get(f"{USERS}/{user_id}/refresh-tokens").json()["items"] == []
    assert_problem(api.delete(url), 404)
    # A family of another user is not found under this one.
    other = create(api, "o@example.com")
    assert_problem(api.delete(f"{USERS}/{other['id']}/refresh-tokens/{families[0]['id']}"), 404)
    assert audit.types()[-2:] == ["refresh_token.revoked", "user.created"]


def test_identities_unlink_but_never_the_only_way_in(api: Api, audit: Recorded) -> None:
    users = api.ready.storage.users
    idp_only = users.create(username="gh-user", roles=[])
    users.link_identity(idp_only.id, "github", "42", "g@example.com")
    listed = api.get(f"{USERS}/{idp_only.id}/identities").json()["items"]
    assert [(i["connector"], i["subject"]) for i in listed] == [("github", "42")]
    only = f"{USERS}/{idp_only.id}/identities/{listed[0]['id']}"
    assert_problem(api.delete(only), 403, "forbidden")
    users.link_identity(idp_only.id, "okta", "00u1")
    assert api.delete(only).status_code == 204
    assert_problem(api.delete(only), 404)
    with_password = create(api, "pw@example.com")
    users.link_identity(with_password["id"], "github", "43")
    link = api.get(f"{USERS}/{with_password['id']}/identities").json()["items"][0]
    assert api.delete(f"{USERS}/{with_password['id']}/identities/{link['id']}").status_code == 204
    assert audit.types().count("identity.unlinked") == 2


def test_sub_resources_of_a_missing_user_are_404(api: Api) -> None:
    for path in ("sessions", "refresh-tokens", "identities"):
        assert_problem(api.get(f"{USERS}/nobody/{path}"), 404)
    assert_problem(api.post(f"{USERS}/nobody/revoke"), 404)


def test_a_viewer_may_read_but_not_write(api: Api) -> None:
    assert api.get(USERS, role="viewer").status_code == 403  # viewers lack users.read
    user = create(api, "v@example.com")
    assert_problem(api.post(f"{USERS}/{user['id']}/disable", role="viewer"), 403)


def _now() -> Any:
    from authbridge.clock import utcnow

    return utcnow()
