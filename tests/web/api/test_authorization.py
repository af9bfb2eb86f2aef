"""Every operation of the published document refuses callers who may not use it: no token,
a viewer's token, an expired token, a token of another issuer, and a signed-in browser's
cookie without a bearer token (the API never reads cookies: no CSRF exposure). The list of
operations is read from the document, so each new route is covered when it is added."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.web.api.conftest import Api, assert_problem
from tests.web.test_pages import PASSWORD, sign_in

METHODS = ("get", "put", "post", "delete", "patch")


def _operations(api: Api) -> list[tuple[str, str]]:
    document = api.client.get("/api/v1/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        found.extend((method.upper(), concrete) for method in METHODS if method in item)
    assert found
    return found


def _send(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return api.client.request(method, path, json=body, **kwargs)


def _foreign_token(api: Api) -> str:
    """Claims like ours, signed by a key that is not ours, naming another issuer."""
    key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    now = int(time.time())
    admin = api.user("admin")
    claims = {
        "iss": "https://evil.example",
        "sub": admin,
        "aud": "authbridge",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "j1",
        "client_id": "x",
    }
    return jwt.encode({"alg": "ES256", "kid": "k", "typ": "at+jwt"}, claims, key)


def test_no_token_is_401_with_the_bare_challenge(api: Api) -> None:
    for method, path in _operations(api):
        response = _send(api, method, path)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == 'Bearer realm="authbridge"', path


@pytest.mark.parametrize("kind", ["viewer", "expired", "foreign", "garbage"])
def test_a_token_that_may_not_is_refused(api: Api, kind: str) -> None:
    if kind == "viewer":
        token, status = api.token("viewer"), 403
    elif kind == "expired":
        token, status = api.token_of(api.user("admin"), expired=True), 401
    elif kind == "foreign":
        token, status = _foreign_token(api), 401
    else:
        token, status = "a.b.c", 401
    for method, path in _operations(api):
        response = _send(api, method, path, headers={"authorization": f"Bearer {token}"})
        body = assert_problem(response, status)
        error = "insufficient_scope" if status == 403 else "invalid_token"
        assert f'error="{error}"' in response.headers["www-authenticate"], (path, body)


def test_a_signed_in_admins_cookie_alone_is_not_enough(api: Api) -> None:
    services = api.ready
    email = "cookie-admin@example.com"
    services.accounts.sign_up(
        email=email, password=PASSWORD, name="Admin", admin=True, self_service=False, origin="test"
    )
    assert sign_in(api.client, email).status_code == 303
    assert api.client.cookies, "the sign-in set no cookie"
    for method, path in _operations(api):
        headers = {"origin": "http://localhost:8080", "sec-fetch-site": "same-origin"}
        assert_problem(_send(api, method, path, headers=headers), 401, "unauthorized")


def test_an_admin_token_passes_the_gate(api: Api) -> None:
    for method, path in _operations(api):
        if method == "GET":
            response = api.get(path)
            assert response.status_code not in (401, 403), (path, response.text)
