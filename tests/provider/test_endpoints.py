"""Userinfo (OIDC Core §5.3, header and body), revocation (RFC 7009), introspection (RFC
7662), RP-initiated logout, and a discovery document an independent client can use."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi.testclient import TestClient

from tests.provider.conftest import ISSUER, SECRET
from tests.provider.test_token import BASIC, code_for, introspect, redeem
from tests.web.test_pages import csrf


def test_userinfo_by_header_and_by_body(browser: TestClient) -> None:
    access = redeem(browser, code_for(browser, scope="openid profile")).json()["access_token"]
    by_header = browser.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access}"})
    by_body = browser.post("/oauth2/userinfo", data={"access_token": access})
    assert by_header.status_code == by_body.status_code == 200
    assert by_header.json() == by_body.json()
    assert by_header.json()["preferred_username"] == "ada@example.com"
    assert "email" not in by_header.json()  # the email scope was not granted


def test_userinfo_refuses_bad_tokens_with_bearer_challenge(browser: TestClient) -> None:
    access = redeem(browser, code_for(browser)).json()["access_token"]
    none = browser.get("/oauth2/userinfo")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    tampered = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    bad = browser.get("/oauth2/userinfo", headers={"authorization": f"Bearer {tampered}"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    both = browser.post(
        "/oauth2/userinfo",
        data={"access_token": access},
        headers={"authorization": f"Bearer {access}"},
    )
    assert both.status_code == 400
    id_token = redeem(browser, code_for(browser)).json()["id_token"]
    as_access = browser.get("/oauth2/userinfo", headers={"authorization": f"Bearer {id_token}"})
    assert as_access.status_code == 401  # an ID token is not an access token (typ at+jwt)


def test_userinfo_needs_the_openid_scope(browser: TestClient) -> None:
    """RFC 6750 §3.1: a valid token lacking the scope is insufficient_scope, 403, and the
    challenge names the scope needed."""
    access = redeem(browser, code_for(browser, scope="email")).json()["access_token"]
    response = browser.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="openid"' in challenge


def test_revocation_of_refresh_and_access_tokens(browser: TestClient) -> None:
    tokens = redeem(browser, code_for(browser)).json()
    for name in ("refresh_token", "access_token"):
        response = browser.post(
            "/oauth2/revoke", data={"token": tokens[name]}, headers={"authorization": BASIC}
        )
        assert response.status_code == 200
        assert introspect(browser, tokens[name]) == {"active": False}
    unknown = browser.post(
        "/oauth2/revoke", data={"token": "never-issued"}, headers={"authorization": BASIC}
    )
    assert unknown.status_code == 200  # RFC 7009 §2.2
    missing = browser.post("/oauth2/revoke", data={}, headers={"authorization": BASIC})
    assert missing.json()["error"] == "invalid_request"


def test_revocation_needs_the_owning_client(browser: TestClient) -> None:
    tokens = redeem(browser, code_for(browser)).json()
    browser.post("/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": "native"})
    assert introspect(browser, tokens["refresh_token"])["active"] is True
    anonymous = browser.post("/oauth2/revoke", data={"token": tokens["refresh_token"]})
    assert anonymous.status_code == 401


def test_introspection_needs_a_confidential_client(browser: TestClient) -> None:
    tokens = redeem(browser, code_for(browser)).json()
    public = browser.post(
        "/oauth2/introspect", data={"token": tokens["access_token"], "client_id": "native"}
    )
    assert public.status_code == 401 and public.json()["error"] == "invalid_client"
    body = introspect(browser, tokens["access_token"])
    assert body["active"] is True and body["iss"] == ISSUER and body["client_id"] == "webapp"
    assert introspect(browser, tokens["refresh_token"])["token_type"] == "refresh_token"
    assert introspect(browser, "garbage") == {"active": False}


def _logout_url(**params: str) -> str:
    return "/oauth2/logout?" + urlencode(params)


def test_logout_with_id_token_hint_redirects_to_registered_uri(browser: TestClient) -> None:
    id_token = redeem(browser, code_for(browser)).json()["id_token"]
    response = browser.get(
        _logout_url(
            id_token_hint=id_token, state="xyz", post_logout_redirect_uri="https://rp.example/bye"
        ),
        follow_redirects=False,
    )
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.netloc == "rp.example" and dict(parse_qsl(target.query)) == {"state": "xyz"}
    assert browser.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_logout_refuses_unregistered_post_logout_uri(browser: TestClient) -> None:
    id_token = redeem(browser, code_for(browser)).json()["id_token"]
    for uri in (
        "https://evil.example/bye",
        "https://rp.example/bye?x=1",
        "https://rp.example/callback",
    ):
        response = browser.get(
            _logout_url(id_token_hint=id_token, post_logout_redirect_uri=uri),
            follow_redirects=False,
        )
        assert response.status_code == 400 and "location" not in response.headers
    no_client = browser.get(
        _logout_url(post_logout_redirect_uri="https://rp.example/bye"), follow_redirects=False
    )
    assert no_client.status_code == 400


def test_logout_without_hint_asks_first(browser: TestClient) -> None:
    page = browser.get(
        _logout_url(client_id="webapp", post_logout_redirect_uri="https://rp.example/bye")
    )
    assert page.status_code == 200 and "Sign out?" in page.text
    assert browser.get("/account", follow_redirects=False).status_code == 200  # still signed in
    done = browser.post(
        "/oauth2/logout",
        data={
            "csrf_token": csrf(page.text),
            "confirm": "yes",
            "client_id": "webapp",
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "https://rp.example/bye"
    assert browser.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_discovery_lists_exactly_what_is_supported(op: TestClient, rp) -> None:
    document = op.get("/.well-known/openid-configuration").json()
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert set(document["response_types_supported"]) == {"code", "id_token", "id_token token"}
    assert "client_secret_basic" in document["token_endpoint_auth_methods_supported"]
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "end_session_endpoint",
        "device_authorization_endpoint",
    ):
        path = urlsplit(document[key]).path
        # every advertised endpoint exists (no 404 for an empty POST)
        assert op.post(path, follow_redirects=False).status_code != 404, key
    assert "password" not in document["grant_types_supported"]
    # Authlib's metadata validator accepts the document (RFC 8414)
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    AuthorizationServerMetadata(document).validate()
    assert SECRET


def test_code_flow_tokens_and_userinfo_carry_scoped_roles(browser: TestClient) -> None:
    """Through the real grants: a scoped binding shows in the access token and, whole, in
    userinfo under the `groups` scope."""
    import base64
    import json

    ready = browser.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_username("ada@example.com")
    ready.bindings.grant("editor", user_id=user.id, scope="workspace:ws1", origin="test")
    access = redeem(browser, code_for(browser, scope="openid groups")).json()["access_token"]
    payload = access.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["authbridge_scoped_roles"] == {"workspace:ws1": ["editor"]}
    info = browser.get("/oauth2/userinfo", headers={"authorization": f"Bearer {access}"}).json()
    assert info["authbridge_scoped_roles"] == {"workspace:ws1": ["editor"]}
    assert info["roles"] == ["viewer"]
