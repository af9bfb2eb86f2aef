"""`active: false` over SCIM ends the user's live browser session and every credential
of the one Revocation built at start-up, at once, and the user stays readable."""

from __future__ import annotations

from fastapi.testclient import TestClient

from authbridge.directory.passwords import PasswordHashing
from authbridge.directory.revocation import Revocation
from tests.scim.conftest import ScimFactory, scim
from tests.web.test_pages import PASSWORD, sign_in

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _provision_and_sign_in(client: TestClient) -> str:
    created = scim(
        client,
        "microsoft",
        "POST",
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace@example.com",
            "active": True,
            "emails": [{"value": "grace@example.com", "type": "work", "primary": True}],
        },
    )
    assert created.status_code == 201
    user_id: str = created.json()["id"]
    # A provisioned user signs in through the IdP; a local password stands in for that here.
    storage = client.app.state.services.ready().storage  # type: ignore[attr-defined]
    storage.users.set_password_hash(user_id, PasswordHashing(19456, 2, 1).hash(PASSWORD))
    assert sign_in(client, "grace@example.com").status_code == 303
    assert client.get("/account", follow_redirects=False).status_code == 200
    return user_id


def test_deactivation_kills_the_live_session(api: TestClient) -> None:
    user_id = _provision_and_sign_in(api)
    cookie = api.cookies.get("authbridge_session")
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }
    assert scim(api, "microsoft", "PATCH", f"/Users/{user_id}", json=body).status_code == 200
    api.cookies.set("authbridge_session", cookie or "")
    response = api.get("/account", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"].startswith("/login")
    # The session row is gone, not merely refused: reactivation does not revive it.
    storage = api.app.state.services.ready().storage  # type: ignore[attr-defined]
    assert storage.sessions.delete_for_user(user_id) == 0
    again = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}
    scim(api, "microsoft", "PATCH", f"/Users/{user_id}", json=again)
    assert api.get("/account", follow_redirects=False).status_code in (302, 303)
    # And the user is still readable by the provisioning client.
    assert scim(api, "microsoft", "GET", f"/Users/{user_id}").json()["active"] is True


def test_deactivation_and_delete_revoke_through_the_one_revocation(
    scim_app: ScimFactory,
) -> None:
    client = scim_app()
    revoked: list[str] = []

    class RefreshTokens:
        def revoke_user(self, user_id: str) -> int:
            revoked.append(user_id)
            return 1

    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    ready.scim["microsoft"].users.revocation = Revocation(
        sessions=ready.storage.sessions, tokens=RefreshTokens(), pending=ready.pending_logins
    )
    user_id = _provision_and_sign_in(client)
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    scim(client, "microsoft", "PATCH", f"/Users/{user_id}", json=body)
    assert revoked == [user_id]
    scim(client, "microsoft", "DELETE", f"/Users/{user_id}")
    assert revoked == [user_id, user_id]
