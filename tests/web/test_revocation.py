"""Every path that ends a user's credentials goes through the one `Revocation` built at
start-up, and reaches the OpenID Provider's refresh tokens: a real refresh grant at the
token endpoint answers `invalid_grant` (RFC 6749 §5.2) afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from authbridge.directory.passwords import PasswordHashing
from authbridge.directory.revocation import Revocation
from authbridge.storage import Storage
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS
from tests.provider.test_token import BASIC, TOKEN, code_for, redeem
from tests.scim.conftest import SCIM_ENV, scim
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

NEW_PASSWORD = "a different horse battery staple"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def op(app_factory: AppFactory, database_url: str) -> TestClient:
    """The app with OAuth clients and both SCIM endpoints, on every backend."""
    settings = make_settings(database_url, **SCIM_ENV).model_copy(update={"clients": CLIENTS})
    return app_factory(settings)


def _refresh(client: TestClient, token: str) -> dict[str, str]:
    response = client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"authorization": BASIC},
    )
    body: dict[str, str] = response.json()
    return body


def _refresh_token(browser: TestClient) -> str:
    """A refresh token of the signed-in user, from a real authorization-code grant; proven
    live by one rotation (the rotated successor is returned)."""
    first = redeem(browser, code_for(browser)).json()
    rotated = _refresh(browser, first["refresh_token"])
    assert "refresh_token" in rotated, rotated
    return rotated["refresh_token"]


def test_password_change_ends_the_refresh_tokens(op: TestClient) -> None:
    assert sign_up(op).status_code == 303
    token = _refresh_token(op)
    page = op.get("/account/password")
    changed = op.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert _refresh(op, token)["error"] == "invalid_grant"
    # This browser stays signed in (a new session) and can get new tokens.
    assert op.get("/account", follow_redirects=False).status_code == 200
    assert "refresh_token" in redeem(op, code_for(op)).json()


@pytest.mark.parametrize("method", ["deactivate", "delete"])
def test_scim_deactivation_and_delete_end_the_refresh_tokens(op: TestClient, method: str) -> None:
    created = scim(
        op,
        "okta",
        "POST",
        "/Users",
        json={"schemas": [USER], "userName": "grace@example.com", "active": True},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    # A provisioned user signs in through the IdP; a local password stands in for that here.
    storage = op.app.state.services.ready().storage  # type: ignore[attr-defined]
    storage.users.set_password_hash(user_id, PasswordHashing(19456, 2, 1).hash(PASSWORD))
    assert sign_in(op, "grace@example.com").status_code == 303
    token = _refresh_token(op)
    if method == "deactivate":
        body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
        response = scim(op, "okta", "PATCH", f"/Users/{user_id}", json=body)
        assert response.status_code == 200, response.text
    else:
        assert scim(op, "okta", "DELETE", f"/Users/{user_id}").status_code == 204
    assert _refresh(op, token)["error"] == "invalid_grant"


def test_operator_disable_ends_the_refresh_tokens(
    app_factory: AppFactory, sqlite_url: str, tmp_path: Path
) -> None:
    browser = app_factory(make_settings(sqlite_url).model_copy(update={"clients": CLIENTS}))
    assert sign_up(browser).status_code == 303
    token = _refresh_token(browser)
    config = tmp_path / "authbridge.yaml"
    config.write_text(f"database:\n  url: {sqlite_url}\n")
    result = CliRunner().invoke(cli, ["users", "disable", "ada@example.com", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "credential(s) revoked" in result.output
    assert _refresh(browser, token)["error"] == "invalid_grant"


def test_removing_a_service_account_goes_through_the_revocation(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    revoked: list[str] = []
    original = Revocation.revoke_user

    def recorded(self: Revocation, user_id: str) -> int:
        revoked.append(user_id)
        return original(self, user_id)

    monkeypatch.setattr(Revocation, "revoke_user", recorded)
    config = tmp_path / "authbridge.yaml"
    config.write_text(f"database:\n  url: {sqlite_url}\n")
    runner = CliRunner()
    added = runner.invoke(cli, ["service-accounts", "add", "etl", "-c", str(config)])
    assert added.exit_code == 0, added.output
    removed = runner.invoke(cli, ["service-accounts", "remove", "etl", "-c", str(config)])
    assert removed.exit_code == 0, removed.output
    service_user = Storage.open(sqlite_url).users.by_username("service:etl")
    assert service_user is not None and not service_user.active
    assert revoked == [service_user.id]
