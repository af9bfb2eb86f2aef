"""The token endpoint: code reuse, PKCE downgrade, refresh rotation and reuse (RFC 9700
§4.14.2), disabled users, client credentials, device grant, client authentication errors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient

from authbridge.provider.clients import DEVICE_GRANT
from authbridge.provider.pkce import s256
from authbridge.provider.service import OpenIDProvider
from tests.provider.conftest import ISSUER, RP_CALLBACK, SECRET, location_params
from tests.provider.test_authorize import VERIFIER, authorize_url
from tests.web.test_pages import csrf

DATA = Path(__file__).parents[1] / "data" / "provider"
TOKEN = "/oauth2/token"
BASIC = "Basic " + base64.b64encode(f"webapp:{SECRET}".encode()).decode()


def provider_of(op: TestClient) -> OpenIDProvider:
    services = op.app.state.services
    ready = services.ready()
    return OpenIDProvider(ready.storage, ready.keyring, ready.issuer, services.settings)


def code_for(browser: TestClient, **overrides) -> str:
    return location_params(browser.get(authorize_url(**overrides), follow_redirects=False))["code"]


def redeem(op: TestClient, code: str, **extra: str):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_CALLBACK,
        "code_verifier": VERIFIER,
        **extra,
    }
    return op.post(TOKEN, data=form, headers={"authorization": BASIC})


def introspect(op: TestClient, token: str) -> dict:
    return op.post(
        "/oauth2/introspect", data={"token": token}, headers={"authorization": BASIC}
    ).json()


def test_token_responses_are_not_stored(browser: TestClient) -> None:
    response = redeem(browser, code_for(browser))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    error = browser.post(TOKEN, data={"grant_type": "nope"}, headers={"authorization": BASIC})
    assert error.headers["cache-control"] == "no-store"


def _names(response) -> list[str]:
    return [name.decode().lower() for name, _ in response.headers.raw]


def test_token_answers_carry_the_headers_of_a_json_response_in_order(browser: TestClient) -> None:
    """RFC 6749 §5.1/§5.2 on the wire (web/token_endpoint.py writes them by hand): no-store,
    no-cache, the JSON type and length, CORS; on a 401, the Basic challenge (§5.2)."""
    ok = redeem(browser, code_for(browser))
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
    assert ok.headers["access-control-allow-origin"] == "*"
    assert int(ok.headers["content-length"]) == len(ok.content)
    expected = ["cache-control", "pragma", "content-length", "content-type"]
    assert _names(ok)[:5] == [*expected, "access-control-allow-origin"]
    wrong = "Basic " + base64.b64encode(b"webapp:wrong").decode()
    refused = browser.post(TOKEN, data={"grant_type": "nope"}, headers={"authorization": wrong})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert refused.headers["www-authenticate"] == 'Basic realm="authbridge"'
    assert _names(refused)[:6] == [
        "cache-control",
        "pragma",
        "www-authenticate",
        "content-length",
        "content-type",
        "access-control-allow-origin",
    ]


@pytest.mark.parametrize(
    "case", json.loads((DATA / "rfc6749_token_errors.json").read_text())["cases"]
)
def test_rfc6749_error_codes(op: TestClient, case: dict) -> None:
    headers = {}
    if case["auth"] == "basic":
        headers["authorization"] = BASIC
    elif case["auth"] == "wrong":
        headers["authorization"] = "Basic " + base64.b64encode(b"webapp:wrong").decode()
    response = op.post(TOKEN, data=case["form"], headers=headers)
    assert response.status_code == case["status"]
    body = response.json()
    assert body["error"] == case["error"] and body["error_description"]
    if "names" in case:
        assert case["names"] in body["error_description"]
    if case["status"] == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_json_body_is_refused_with_a_clear_error(op: TestClient) -> None:
    response = op.post(
        TOKEN, json={"grant_type": "client_credentials"}, headers={"authorization": BASIC}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_code_reuse_fails_and_revokes_what_the_first_use_issued(browser: TestClient) -> None:
    code = code_for(browser)
    first = redeem(browser, code).json()
    assert introspect(browser, first["access_token"])["active"] is True
    again = redeem(browser, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert introspect(browser, first["access_token"]) == {"active": False}
    assert introspect(browser, first["refresh_token"]) == {"active": False}
    refreshed = browser.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers={"authorization": BASIC},
    )
    assert refreshed.json()["error"] == "invalid_grant"
    info = browser.get(
        "/oauth2/userinfo", headers={"authorization": "Bearer " + first["access_token"]}
    )
    assert info.status_code == 401


def test_code_bound_to_its_redirect_uri_and_client(browser: TestClient) -> None:
    assert (
        redeem(browser, code_for(browser), redirect_uri="https://rp.example/cb?tenant=a").json()[
            "error"
        ]
        == "invalid_grant"
    )
    code = code_for(browser)
    other = browser.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_CALLBACK,
            "client_id": "spa",
            "code_verifier": VERIFIER,
        },
    )
    assert other.json()["error"] == "invalid_grant"


def test_pkce_downgrade_is_refused(browser: TestClient) -> None:
    """RFC 9700 §4.8.2: code issued without a challenge, redeemed with a verifier."""
    code = code_for(browser, code_challenge=None, code_challenge_method=None)
    response = redeem(browser, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_wrong_or_missing_verifier(browser: TestClient) -> None:
    assert (
        redeem(browser, code_for(browser), code_verifier="y" * 50).json()["error"]
        == "invalid_grant"
    )
    code = code_for(browser)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK}
    assert (
        browser.post(TOKEN, data=form, headers={"authorization": BASIC}).json()["error"]
        == "invalid_grant"
    )


def test_expired_code_is_refused(browser: TestClient, op: TestClient) -> None:
    from sqlalchemy import text

    code = code_for(browser)
    with op.app.state.services.ready().storage.db.session() as session:
        session.execute(text("UPDATE oauth_codes SET expires_at = '2000-01-01 00:00:00'"))
    assert redeem(browser, code).json()["error"] == "invalid_grant"


def _refresh(op: TestClient, token: str, **extra: str):
    return op.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        headers={"authorization": BASIC},
    )


def test_refresh_rotation_and_reuse_revokes_the_family(browser: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    second = _refresh(browser, first["refresh_token"]).json()
    third = _refresh(browser, second["refresh_token"]).json()
    assert len({first["refresh_token"], second["refresh_token"], third["refresh_token"]}) == 3
    reused = _refresh(browser, first["refresh_token"])  # an attacker's stolen copy
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the legitimate client's newest token dies with the family
    assert _refresh(browser, third["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_may_narrow_but_not_widen_scope(browser: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    narrowed = _refresh(browser, first["refresh_token"], scope="openid").json()
    assert narrowed["scope"] == "openid"
    wider = _refresh(browser, narrowed["refresh_token"], scope="openid email groups")
    assert wider.json()["error"] == "invalid_scope"


def test_refresh_of_another_client_is_refused(browser: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    response = browser.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "client_id": "native",
            "refresh_token": first["refresh_token"],
        },
    )
    assert response.json()["error"] == "invalid_grant"


def test_refresh_refused_for_a_disabled_user(browser: TestClient, op: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    storage = op.app.state.services.ready().storage
    user = storage.users.by_username("ada@example.com")
    storage.users.set_active(user.id, False)
    assert _refresh(browser, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_deactivation_revokes_refresh_tokens(browser: TestClient, op: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    ready = op.app.state.services.ready()
    user = ready.storage.users.by_username("ada@example.com")
    # the browser session and the refresh token
    assert ready.revocation.revoke_user(user.id) >= 2
    assert _refresh(browser, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_idle_timeout(browser: TestClient, op: TestClient) -> None:
    from sqlalchemy import text

    first = redeem(browser, code_for(browser)).json()
    with op.app.state.services.ready().storage.db.session() as session:
        session.execute(text("UPDATE oauth_refresh_tokens SET idle_expires_at='2000-01-01'"))
    assert _refresh(browser, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_client_credentials_for_a_service_account(op: TestClient, rp) -> None:
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    assert created.secret and created.client.secret_hash != created.secret
    session = rp(created.client.client_id, client_secret=created.secret)
    token = session.fetch_token(ISSUER + TOKEN, grant_type="client_credentials")
    assert "refresh_token" not in token and "id_token" not in token
    claims = introspect(op, token["access_token"])
    assert claims["active"] and claims["principal_type"] == "service"
    assert claims["roles"] == ["editor"] and claims["client_id"] == "sa-etl"
    assert 590 <= token["expires_in"] <= 600
    post = rp(
        created.client.client_id,
        client_secret=created.secret,
        token_endpoint_auth_method="client_secret_post",
    )
    assert post.fetch_token(ISSUER + TOKEN, grant_type="client_credentials")["access_token"]


def test_userinfo_tells_a_service_account_token_has_no_user(op: TestClient, rp) -> None:
    """The token is valid (introspection says active); userinfo must not call it invalid or
    expired (RFC 6750 §3.1: invalid_token is for expired, revoked or malformed tokens)."""
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    session = rp(created.client.client_id, client_secret=created.secret)
    token = session.fetch_token(ISSUER + TOKEN, grant_type="client_credentials")["access_token"]
    assert introspect(op, token)["active"] is True
    response = op.get("/oauth2/userinfo", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert "service principal, not a signed-in user" in body["error_description"]
    assert "expired" not in body["error_description"]
    assert 'scope="openid"' in response.headers["www-authenticate"]


def test_robot_token_says_it_is_not_a_person(op: TestClient) -> None:
    provider = provider_of(op)
    token, jti, _ = provider.issue_robot_token("ci", "viewer", 7 * 86400)
    claims = introspect(op, token)
    assert claims["principal_type"] == "robot" and claims["roles"] == ["viewer"]
    assert provider.store.revoke_robot_token(jti, provider.clock())
    assert introspect(op, token) == {"active": False}


def test_device_grant_with_an_independent_client(op: TestClient, rp) -> None:
    from tests.web.test_pages import sign_up

    client: OAuth2Client = rp("native")
    started = client.request(
        "POST",
        ISSUER + "/oauth2/device_authorization",
        data={"client_id": "native", "scope": "openid profile"},
        withhold_token=True,
    ).json()
    assert started["verification_uri"] == ISSUER + "/device" and started["interval"] == 5
    pending = client.request(
        "POST",
        ISSUER + TOKEN,
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": "native",
            "device_code": started["device_code"],
        },
        withhold_token=True,
    )
    assert pending.json()["error"] == "authorization_pending"
    too_fast = client.request(
        "POST",
        ISSUER + TOKEN,
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": "native",
            "device_code": started["device_code"],
        },
        withhold_token=True,
    )
    assert too_fast.json()["error"] == "slow_down"
    # the user, on another device, signs in and approves
    sign_up(op)
    page = op.get("/device?user_code=" + started["user_code"].lower().replace("-", ""))
    assert "Native app" in page.text
    done = op.post(
        "/device",
        data={
            "csrf_token": csrf(page.text),
            "user_code": started["user_code"],
            "decision": "approve",
        },
    )
    assert done.status_code == 200 and "Done" in done.text
    token = client.fetch_token(
        ISSUER + TOKEN, grant_type=DEVICE_GRANT, device_code=started["device_code"]
    )
    assert token["access_token"] and token["refresh_token"] and token["id_token"]
    # How the approving person signed in (a password) reaches the device's tokens.
    for issued in (token["id_token"], token["access_token"]):
        payload = issued.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert (claims["acr"], claims["amr"]) == ("urn:authbridge:acr:1fa", ["pwd"])
    again = client.request(
        "POST",
        ISSUER + TOKEN,
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": "native",
            "device_code": started["device_code"],
        },
        withhold_token=True,
    )
    assert again.json()["error"] == "invalid_grant"


def test_device_denied(op: TestClient) -> None:
    from tests.web.test_pages import sign_up

    started = op.post("/oauth2/device_authorization", data={"client_id": "native"}).json()
    sign_up(op)
    page = op.get("/device?user_code=" + started["user_code"])
    op.post(
        "/device",
        data={"csrf_token": csrf(page.text), "user_code": started["user_code"], "decision": "deny"},
    )
    denied = op.post(
        TOKEN,
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": "native",
            "device_code": started["device_code"],
        },
    )
    assert denied.json()["error"] == "access_denied"


def test_device_page_needs_sign_in_and_a_valid_code(op: TestClient) -> None:
    from tests.web.test_pages import sign_up

    response = op.get("/device?user_code=BCDF-GHJK", follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=%2Fdevice")
    sign_up(op)
    assert op.get("/device?user_code=BCDF-GHJK").status_code == 400
    assert op.get("/device?user_code=not-a-code").status_code == 400


def test_device_grant_refused_for_clients_without_it(op: TestClient) -> None:
    response = op.post("/oauth2/device_authorization", data={"client_id": "spa"})
    assert response.json()["error"] == "unauthorized_client"


def test_verifier_matches_challenge_helper() -> None:
    assert s256(VERIFIER) != VERIFIER


def test_user_code_guessing_is_throttled(op: TestClient) -> None:
    from tests.web.test_pages import sign_up

    sign_up(op)
    statuses = [
        op.get("/device?user_code=BCDF-GHJ" + "KLMNPQRSTV"[i]).status_code for i in range(10)
    ]
    assert statuses == [400] * 10
    started = op.post("/oauth2/device_authorization", data={"client_id": "native"}).json()
    blocked = op.get("/device?user_code=" + started["user_code"])
    assert blocked.status_code == 429 and blocked.headers["retry-after"]
