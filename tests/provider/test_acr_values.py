"""`acr_values` at the authorization endpoint (OIDC Core §3.1.2.1) with a password session
(authbridge's 1fa level); the step-up itself, through an IdP proving a second factor, is
tests/connectors/test_require_mfa.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from authbridge.middleware.authn import ACR_1FA, ACR_MFA, ACR_VALUES
from tests.provider.conftest import location_params
from tests.provider.test_authorize import authorize_url


def test_discovery_names_the_levels_and_the_claims(op: TestClient) -> None:
    document = op.get("/.well-known/openid-configuration").json()
    assert document["acr_values_supported"] == list(ACR_VALUES) == [ACR_1FA, ACR_MFA]
    assert {"acr", "amr", "auth_time"} <= set(document["claims_supported"])


def test_a_level_the_session_reaches_is_answered_at_once(browser: TestClient) -> None:
    for values in (ACR_1FA, f"urn:someone:else {ACR_1FA}", "urn:someone:else"):
        # Values authbridge does not define are voluntary (OIDC Core §5.5.1.1): ignored.
        response = browser.get(authorize_url(acr_values=values), follow_redirects=False)
        assert "code" in location_params(response), values


def test_a_higher_level_sends_the_person_to_sign_in_again(browser: TestClient) -> None:
    response = browser.get(authorize_url(acr_values=ACR_MFA), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert parse_qs(urlsplit(response.headers["location"]).query)["acr_values"] == [ACR_MFA]
    # The password session ended: re-authentication, not a pass-through of the old session.
    assert browser.get("/account", follow_redirects=False).status_code in (302, 303)


def test_prompt_none_cannot_step_up(browser: TestClient) -> None:
    response = browser.get(authorize_url(acr_values=ACR_MFA, prompt="none"), follow_redirects=False)
    assert location_params(response)["error"] == "login_required"


def test_malformed_acr_values_are_refused(browser: TestClient) -> None:
    many = " ".join(f"urn:x:{i}" for i in range(11))
    for values in (many, "x" * 300):
        response = browser.get(authorize_url(acr_values=values), follow_redirects=False)
        assert location_params(response)["error"] == "invalid_request"
