"""`GET /api/v1/authz/roles`: the whole authorization of a token's user, the size bound of
the token's claims (a user in 500 teams), and the admin gate on reading another user."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient

from authbridge.directory.principals import principal_of
from authbridge.storage.models import Team, TeamMember
from authbridge.tokens.claims import GROUPS_OVERFLOW, ROLES_OVERFLOW, SCOPED_ROLES
from authbridge.web.services import Ready

PATH = "/api/v1/authz/roles"
# The documented bound (tokens/claims.py): an access token under 8 KiB, the header size
# common proxies accept, however many teams its user is in.
TOKEN_BOUND = 8 * 1024


def _ready(client: TestClient) -> Ready:
    ready: Ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    return ready


def _token(ready: Ready, username: str) -> str:
    user = ready.storage.users.by_username(username)
    assert user is not None
    issued = ready.issuer.access_token(
        principal_of(ready.bindings, user), audience=["https://api.example"], client_id="svc"
    )
    return issued.token


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _get(client: TestClient, token: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(PATH, headers=headers, params=params)


def test_a_user_in_500_teams_gets_a_bounded_token_and_the_endpoint_has_everything(
    client: TestClient,
) -> None:
    ready = _ready(client)
    user = ready.storage.users.create(username="busy@example.com", roles=["viewer"])
    with ready.storage.db.session() as session:
        for i in range(500):
            name = f"data-platform-team-number-{i:03d}"
            session.add(Team(id=f"t{i:03d}", name=name, name_key=name, source="okta"))
        session.flush()
        for i in range(500):
            session.add(TeamMember(team_id=f"t{i:03d}", user_id=user.id))
    for i in range(500):
        ready.bindings.grant(
            "editor", team_id=f"t{i:03d}", scope=f"workspace:ws-{i:03d}", origin="test"
        )
    token = _token(ready, "busy@example.com")
    assert len(token) < TOKEN_BOUND, len(token)
    claims = _claims(token)
    # Left out whole and flagged, never cut to a subset that would look complete.
    assert claims[ROLES_OVERFLOW] is True and SCOPED_ROLES not in claims
    assert claims[GROUPS_OVERFLOW] is True and "groups" not in claims
    assert claims["roles"] == ["viewer"]

    answer = _get(client, token)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert len(body[SCOPED_ROLES]) == 500
    assert body[SCOPED_ROLES]["workspace:ws-499"] == ["editor"]
    assert len(body["groups"]) == 500
    assert "resources.write" in body["permissions"]["workspace:ws-007"]
    assert body["permissions"]["system"] == ["resources.read"]


def test_a_few_scoped_roles_travel_in_the_token(client: TestClient) -> None:
    ready = _ready(client)
    user = ready.storage.users.create(username="ada@example.com", roles=["viewer"])
    ready.bindings.grant("editor", user_id=user.id, scope="workspace:ws1", origin="test")
    claims = _claims(_token(ready, "ada@example.com"))
    assert claims[SCOPED_ROLES] == {"workspace:ws1": ["editor"]}
    assert ROLES_OVERFLOW not in claims and claims["groups"] == []


def test_errors_are_problem_documents_with_the_bearer_challenge(client: TestClient) -> None:
    missing = _get(client, None)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == 'Bearer realm="authbridge"'  # RFC 6750 §3.1
    forged = _get(client, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
    assert (
        forged.status_code == 401 and 'error="invalid_token"' in forged.headers["www-authenticate"]
    )
    assert forged.json()["status"] == 401


def test_reading_another_users_roles_is_for_admins(client: TestClient) -> None:
    ready = _ready(client)
    ready.storage.users.create(username="ada@example.com", roles=["viewer"])
    ready.storage.users.create(username="root@example.com", roles=["admin"])
    viewer = _token(ready, "ada@example.com")
    refused = _get(client, viewer, user="root@example.com")
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    admin = _token(ready, "root@example.com")
    answer = _get(client, admin, user="ada@example.com")
    assert answer.status_code == 200 and answer.json()["roles"] == ["viewer"]
    assert _get(client, admin, user="nobody@example.com").status_code == 404
