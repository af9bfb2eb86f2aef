"""Attacks on the admin API, invitations, password reset, account page and branding.

Each test tries an attack and FAILS if it works. A "helpdesk" role holds users.* and
teams.* but not roles.write: it must not be able to hand itself (or anyone) the admin role
by a side door.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from authbridge.audit.events import Actor
from authbridge.config.model import RoleSettings, ScimTeamRoleRule
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api, assert_problem
from tests.web.api.test_service_accounts import _token as _client_credentials

HELPDESK = ["users.read", "users.write", "teams.read", "teams.write"]
INTEGRATOR = ["clients.read", "clients.write"]


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    settings = make_settings(sqlite_url)
    settings = settings.model_copy(
        update={
            "roles": {
                "helpdesk": RoleSettings(permissions=HELPDESK),
                "integrator": RoleSettings(permissions=INTEGRATOR),
            }
        }
    )
    with started_clients() as start:
        yield Api(start(create_app(settings), raise_server_exceptions=False))


def _is_admin(api: Api, user_id: str) -> bool:
    return api.ready.bindings.allows(user_id, "roles.write")


# -- privilege escalation -----------------------------------------------------------------


def test_users_write_cannot_create_an_admin_user(api: Api) -> None:
    r = api.post(
        "/api/v1/users",
        role="helpdesk",
        json={
            "email": "mallory2@example.com",
            "password": "correct horse battery 9",
            "role": "admin",
        },
    )
    assert_problem(r, 403)
    assert api.ready.storage.users.by_username("mallory2@example.com") is None


def test_users_write_can_still_create_a_plain_user(api: Api) -> None:
    r = api.post(
        "/api/v1/users",
        role="helpdesk",
        json={"email": "plain@example.com", "password": "correct horse battery 9"},
    )
    assert r.status_code == 201, r.text
    assert not _is_admin(api, r.json()["id"])


def test_users_write_cannot_invite_with_admin_binding(api: Api) -> None:
    r = api.post(
        "/api/v1/invitations",
        role="helpdesk",
        json={"email": "mallory@example.com", "roleBindings": [{"role": "admin"}]},
    )
    assert_problem(r, 403)


def test_users_write_cannot_invite_into_admin_team(api: Api) -> None:
    team = api.post("/api/v1/teams", json={"name": "admins"}).json()
    api.ready.bindings.grant("admin", team_id=team["id"], origin="test")
    r = api.post(
        "/api/v1/invitations",
        role="helpdesk",
        json={"email": "mallory3@example.com", "teams": [team["name"]]},
    )
    assert_problem(r, 403)


def test_teams_write_cannot_join_a_team_bound_to_admin(api: Api) -> None:
    team = api.post("/api/v1/teams", json={"name": "root"}).json()
    api.ready.bindings.grant("admin", team_id=team["id"], origin="test")
    me = api.user("helpdesk")
    token = api.token_of(me)
    r = api.client.put(
        f"/api/v1/teams/{team['id']}/members/{me}",
        headers={"authorization": f"Bearer {token}"},
    )
    assert_problem(r, 403)
    assert not _is_admin(api, me)


@pytest.mark.parametrize("role", ["viewer", "editor", "helpdesk"])
def test_non_admin_cannot_bind_admin_to_self(api: Api, role: str) -> None:
    me = api.user(role)
    token = api.token_of(me)
    r = api.client.post(
        "/api/v1/bindings",
        headers={"authorization": f"Bearer {token}"},
        json={"role": "admin", "user": me},
    )
    assert_problem(r, 403)
    assert not _is_admin(api, me)


def test_revoked_binding_takes_effect_before_token_expiry(api: Api) -> None:
    me = api.user("admin")
    token = api.token_of(me)
    headers = {"authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/users", headers=headers).status_code == 200
    api.ready.bindings.revoke("admin", user_id=me)
    assert api.client.get("/api/v1/users", headers=headers).status_code == 403


def test_disabled_user_token_refused(api: Api) -> None:
    me = api.user("admin")
    token = api.token_of(me)
    other = api.token("admin")
    r = api.client.post(f"/api/v1/users/{me}/disable", headers={"authorization": f"Bearer {other}"})
    if r.status_code == 404:
        pytest.skip("no disable route")
    r = api.client.get("/api/v1/users", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text


def test_clients_write_cannot_create_an_admin_service_account(api: Api) -> None:
    r = api.post("/api/v1/service-accounts", role="integrator", json={"name": "x", "role": "admin"})
    assert_problem(r, 403)


def test_clients_write_cannot_issue_an_admin_robot(api: Api) -> None:
    r = api.post("/api/v1/robots", role="integrator", json={"name": "bot", "role": "admin"})
    assert_problem(r, 403)


def test_clients_write_cannot_take_over_an_admin_service_account(api: Api) -> None:
    created = api.post("/api/v1/service-accounts", json={"name": "ops", "role": "admin"})
    assert created.status_code == 201, created.text
    client_id = created.json()["clientId"]
    r = api.post(f"/api/v1/clients/{client_id}/secret", role="integrator", json={})
    assert_problem(r, 403)
    # a viewer service account's secret the integrator may still rotate
    plain = api.post("/api/v1/service-accounts", json={"name": "etl", "role": "viewer"})
    rotated = api.post(f"/api/v1/clients/{plain.json()['clientId']}/secret", role="integrator")
    assert rotated.status_code == 200, rotated.text


def test_service_account_token_cannot_use_admin_routes_beyond_its_role(api: Api) -> None:
    created = api.post("/api/v1/service-accounts", json={"name": "ro", "role": "viewer"}).json()
    token = _client_credentials(api, created["clientId"], created["clientSecret"])
    assert token
    headers = {"authorization": f"Bearer {token}"}
    assert_problem(api.client.get("/api/v1/users", headers=headers), 403)
    assert_problem(
        api.client.post("/api/v1/bindings", headers=headers, json={"role": "admin", "user": "x"}),
        403,
    )


# -- problem documents on malformed input -------------------------------------------------


@pytest.mark.parametrize(
    "cursor", ["!!!", "x" * 512, "eyJ9", "AAAA", "\u00e9", "e30", "W10", "bnVsbA"]
)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users",
        "/api/v1/teams",
        "/api/v1/invitations",
        "/api/v1/audit/events",
        "/api/v1/clients",
        "/api/v1/bindings",
    ],
)
def test_tampered_cursor_is_a_400_not_a_500(api: Api, path: str, cursor: str) -> None:
    r = api.get(path, params={"cursor": cursor})
    assert r.status_code in (400, 404), r.text


def test_deep_json_is_refused_cleanly(api: Api) -> None:
    body = "[" * 100000 + "]" * 100000
    r = api.post("/api/v1/teams", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 413, 422), r.text


def test_nul_in_names_is_refused_or_stored_cleanly(api: Api) -> None:
    r = api.post("/api/v1/teams", json={"name": "ev\u0000il"})
    assert r.status_code in (201, 400, 422), r.text


def test_deleted_user_token_refused(api: Api) -> None:
    me = api.user("admin")
    token = api.token_of(me)
    assert api.delete(f"/api/v1/users/{me}").status_code == 204
    r = api.client.get("/api/v1/users", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text


def test_admin_cannot_disable_or_delete_themself(api: Api) -> None:
    me = api.user("admin")
    headers = {"authorization": f"Bearer {api.token_of(me)}"}
    assert api.client.post(f"/api/v1/users/{me}/disable", headers=headers).status_code == 403
    assert api.client.delete(f"/api/v1/users/{me}", headers=headers).status_code == 403
    assert api.ready.storage.users.get(me).active  # type: ignore[union-attr]


def test_team_membership_removal_drops_admin_at_once(api: Api) -> None:
    team = api.post("/api/v1/teams", json={"name": "ops"}).json()
    api.ready.bindings.grant("admin", team_id=team["id"], origin="test")
    me = api.user("viewer")
    assert api.put(f"/api/v1/teams/{team['id']}/members/{me}").status_code == 201
    headers = {"authorization": f"Bearer {api.token_of(me)}"}
    assert api.client.get("/api/v1/users", headers=headers).status_code == 200
    assert api.delete(f"/api/v1/teams/{team['id']}/members/{me}").status_code == 200
    assert api.client.get("/api/v1/users", headers=headers).status_code == 403


def _invite(api: Api, email: str) -> tuple[str, str]:
    r = api.post("/api/v1/invitations", json={"email": email, "roleBindings": [{"role": "editor"}]})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["link"].rpartition("/invite/")[2]


def test_invitation_link_used_once_even_when_raced(api: Api) -> None:
    _, token = _invite(api, "race@example.com")
    invitations = api.ready.invitations
    results: list[object] = []

    def accept() -> None:
        try:
            results.append(
                invitations.accept_local(
                    token,
                    password="correct horse battery 9",
                    name=None,
                    actor=Actor(kind="anonymous"),
                )
            )
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=accept) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    users = [r for r in results if not isinstance(r, Exception)]
    assert len(users) == 1, results
    assert invitations.peek(token) is None


def test_resent_or_revoked_invitation_links_stop_working(api: Api) -> None:
    invitation_id, old = _invite(api, "resend@example.com")
    assert api.client.get(f"/invite/{old}").status_code == 200
    resent = api.post(f"/api/v1/invitations/{invitation_id}/resend")
    assert resent.status_code == 200, resent.text
    new = resent.json()["link"].rpartition("/invite/")[2]
    assert api.client.get(f"/invite/{old}").status_code == 404
    assert api.client.get(f"/invite/{new}").status_code == 200
    assert api.delete(f"/api/v1/invitations/{invitation_id}").status_code == 204
    assert api.client.get(f"/invite/{new}").status_code == 404
    assert api.client.get("/invite/" + "A" * 43).status_code == 404  # a guess


def _local_user(api: Api, email: str, role: str | None) -> str:
    body = {"email": email, "password": "correct horse battery 9", "role": role}
    created = api.post("/api/v1/users", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_users_write_cannot_redirect_an_admins_email_to_take_over_by_reset(api: Api) -> None:
    victim = _local_user(api, "boss@example.com", "admin")
    got = api.get(f"/api/v1/users/{victim}", role="helpdesk")
    r = api.patch(
        f"/api/v1/users/{victim}",
        role="helpdesk",
        json={"email": "mallory@evil.example"},
        headers={"if-match": got.headers["etag"]},
    )
    assert_problem(r, 403)
    assert api.ready.storage.users.by_username("mallory@evil.example") is None
    # a viewer's email the helpdesk may still correct
    plain = _local_user(api, "typo@example.com", None)
    got = api.get(f"/api/v1/users/{plain}", role="helpdesk")
    r = api.patch(
        f"/api/v1/users/{plain}",
        role="helpdesk",
        json={"email": "fixed@example.com"},
        headers={"if-match": got.headers["etag"]},
    )
    assert r.status_code == 200, r.text


def test_teams_write_cannot_rename_its_team_into_a_role_template(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    rule = ScimTeamRoleRule(match="platform-admins*", roles=["admin"])
    settings = settings.model_copy(
        update={
            "roles": {"helpdesk": RoleSettings(permissions=HELPDESK)},
            "scim": settings.scim.model_copy(update={"team_roles": [rule]}),
        }
    )
    with started_clients() as start:
        api = Api(start(create_app(settings), raise_server_exceptions=False))
        me = api.user("helpdesk")
        headers = {"authorization": f"Bearer {api.token_of(me)}"}
        team = api.client.post("/api/v1/teams", headers=headers, json={"name": "mine"}).json()
        added = api.client.put(f"/api/v1/teams/{team['id']}/members/{me}", headers=headers)
        assert added.status_code == 201, added.text
        got = api.client.get(f"/api/v1/teams/{team['id']}", headers=headers)
        r = api.client.patch(
            f"/api/v1/teams/{team['id']}",
            headers={**headers, "if-match": got.headers["etag"]},
            json={"name": "platform-admins-mine"},
        )
        assert_problem(r, 403)
        assert not _is_admin(api, me)


def test_a_registered_client_cannot_grant_itself_client_credentials_admin(api: Api) -> None:
    body = {"clientId": "sneaky", "grantTypes": ["client_credentials"], "redirectUris": []}
    created = api.post("/api/v1/clients", role="integrator", json=body)
    if created.status_code != 201:
        assert created.status_code in (400, 403, 422), created.text
        return
    token = _client_credentials(api, "sneaky", created.json()["clientSecret"])
    if token is None:
        return
    r = api.client.get("/api/v1/users", headers={"authorization": f"Bearer {token}"})
    assert r.status_code in (401, 403), r.text
