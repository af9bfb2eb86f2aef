"""Okta Group Push over HTTP after a login made a team of the same name (issue 12).

On main this was a 409 "uniqueness" forever: Okta retries a failed push and never succeeds,
so the group's members never arrive. Now the SCIM group is a team of its own (another id),
and with `teams.<name>.sources` the same team as the login's.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from authbridge.config.model import AuthorizerSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker
from authbridge.storage import Storage
from tests.scim.conftest import ScimFactory, scim

DATA = Path(__file__).parents[1] / "data" / "scim" / "linking" / "vendor_payloads.json"
OKTA = json.loads(DATA.read_text())["okta"]


def _okta_login(storage: Storage) -> str:
    claims = OKTA["id_token"]
    identity = Identity(
        connector_id="okta",
        subject=claims["sub"],
        username=claims["preferred_username"],
        email=claims["email"],
        email_verified=True,
        groups=tuple(claims["groups"]),
        claims=claims,
    )
    return IdentityLinker(storage, AuthorizerSettings()).sign_in(identity, SignupPolicy()).id


def _push(api: TestClient) -> dict[str, object]:
    answer = scim(api, "okta", "POST", "/Groups", json=OKTA["scim_group"])
    assert answer.status_code == 201, answer.text  # main: 409 uniqueness, forever
    body: dict[str, object] = answer.json()
    return body


def test_group_push_named_like_a_login_team_is_created(
    scim_app: ScimFactory, database_url: str
) -> None:
    api = scim_app()
    storage = Storage.open(database_url)
    try:
        user = _okta_login(storage)
        group = _push(api)
        teams = {t.id: t.managed_by for t in storage.teams.teams_of(user)}
        assert group["id"] not in teams  # a distinct team: the user is not in the group
        assert "idp:okta" in teams.values()
        # Okta then looks the group up by name, as Group Push does, and finds its own.
        found = scim(api, "okta", "GET", '/Groups?filter=displayName eq "Engineering"').json()
        assert [g["id"] for g in found["Resources"]] == [group["id"]]
    finally:
        storage.db.dispose()


def test_configured_sources_make_the_push_join_the_login_team(scim_app: ScimFactory) -> None:
    api = scim_app(TEAMS__ENGINEERING__SOURCES='["scim:okta", "idp:okta"]')
    group = _push(api)
    # A login through the app's own wiring (its membership engine holds `teams`).
    ready = api.app.state.services.ready()  # type: ignore[attr-defined]
    linker = IdentityLinker(ready.storage, AuthorizerSettings(), membership=ready.membership)
    claims = OKTA["id_token"]
    identity = Identity("okta", claims["sub"], "test.user", groups=tuple(claims["groups"]))
    user = linker.sign_in(identity, SignupPolicy())
    assert group["id"] in {t.id for t in ready.storage.teams.teams_of(user.id)}
