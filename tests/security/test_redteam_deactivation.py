"""Red team, issue 10 defect 2: every way a provisioning source deactivates a user ends the
user's refresh tokens, in each source's own dialect (Entra sends `"False"` as a string and
capitalised op names; Okta replaces the whole User with PUT)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from authbridge.directory.passwords import PasswordHashing
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS
from tests.scim.conftest import SCIM_ENV, scim
from tests.security.conftest import AppFactory
from tests.web.test_pages import PASSWORD, sign_in
from tests.web.test_revocation import PATCH, USER, _refresh, _refresh_token

NAME = "grace@example.com"
DEACTIVATIONS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "microsoft",
        "PATCH",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
    ),
    (
        "microsoft",
        "PATCH",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    ),
    ("okta", "PUT", {"schemas": [USER], "userName": NAME, "active": False}),
]


@pytest.fixture
def op(app_factory: AppFactory, sqlite_url: str) -> TestClient:
    settings = make_settings(sqlite_url, **SCIM_ENV).model_copy(update={"clients": CLIENTS})
    return app_factory(settings)


@pytest.mark.parametrize(("source", "method", "body"), DEACTIVATIONS)
def test_each_sources_deactivation_ends_the_refresh_tokens(
    op: TestClient, source: str, method: str, body: dict[str, Any]
) -> None:
    created = scim(
        op, source, "POST", "/Users", json={"schemas": [USER], "userName": NAME, "active": True}
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    storage = op.app.state.services.ready().storage  # type: ignore[attr-defined]
    storage.users.set_password_hash(user_id, PasswordHashing(19456, 2, 1).hash(PASSWORD))
    assert sign_in(op, NAME).status_code == 303
    token = _refresh_token(op)
    response = scim(op, source, method, f"/Users/{user_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    assert _refresh(op, token)["error"] == "invalid_grant"
    assert op.get("/account", follow_redirects=False).status_code == 303  # session ended
