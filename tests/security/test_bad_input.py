"""Red team: malformed cookies, tokens and fields on the browser-facing routes.

House rule: bad input is a clear 4xx, never a 500 (nor a misleading "database down" 503),
and nothing is half-created.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_up

RAW_NON_ASCII = "\u00e9\u00e9\u00e9"  # sent as latin-1 bytes, as a browser or curl can


def raw_cookie(**cookies: str) -> dict[str, bytes]:
    return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()).encode("latin-1")}


def test_non_ascii_device_cookie_is_ignored_not_a_500(client: TestClient) -> None:
    page = client.get("/login")
    anchor = client.cookies.get("authbridge_csrf")
    assert anchor
    client.cookies.clear()
    response = client.post(
        "/login",
        data={"username": "ada@example.com", "password": "wrong", "csrf_token": csrf(page.text)},
        headers=raw_cookie(authbridge_csrf=anchor, authbridge_device=RAW_NON_ASCII + ".x"),
        follow_redirects=False,
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"username": "ada@example.com", "password": PASSWORD}),
        ("/signup", {"email": "ada@example.com", "password": PASSWORD}),
        ("/logout", {}),
        ("/setup", {"token": "x", "email": "root@example.com", "password": PASSWORD}),
        ("/account/password", {"current_password": "a", "new_password": "b"}),
        ("/v1/oauth/mock/authorize", {"state": "s", "email": "ada@example.com"}),
    ],
)
def test_non_ascii_csrf_token_is_a_403_not_a_500(
    client: TestClient, path: str, fields: dict[str, str]
) -> None:
    client.get("/login")
    response = client.post(path, data={**fields, "csrf_token": "\u00e9"}, follow_redirects=False)
    assert response.status_code == 403


@pytest.mark.parametrize("email", ["ada\x00@example.com", "ad\x1ba@example.com"])
def test_control_characters_in_signup_email_are_a_400(
    any_backend_client: TestClient, email: str
) -> None:
    response = sign_up(any_backend_client, email)
    assert response.status_code == 400
    assert "session" not in "".join(response.headers.get_list("set-cookie"))


@pytest.mark.parametrize("where", ["login", "mock-idp"])
def test_nul_in_sign_in_fields_is_a_4xx_on_every_backend(
    any_backend_client: TestClient, where: str, request: pytest.FixtureRequest
) -> None:
    client = any_backend_client
    if where == "login":
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": "ada\x00@example.com",
                "password": PASSWORD,
                "csrf_token": csrf(page.text),
            },
            follow_redirects=False,
        )
    else:
        start = client.get("/v1/oauth/start?provider=mock", follow_redirects=False)
        page = client.get(start.headers["location"])
        state = start.headers["location"].split("state=", 1)[1]
        response = client.post(
            "/v1/oauth/mock/authorize",
            data={
                "state": state,
                "email": "ada\x00@example.com",
                "name": "N\x00",
                "csrf_token": csrf(page.text),
            },
            follow_redirects=False,
        )
    assert 400 <= response.status_code < 500


def test_session_and_binding_cookies_with_junk_are_ignored(client: TestClient) -> None:
    for value in (RAW_NON_ASCII, "x" * 5000, "a.b.c", '"quoted"', "%00"):
        page = client.get(
            "/account", headers=raw_cookie(authbridge_session=value), follow_redirects=False
        )
        assert page.status_code == 303 and page.headers["location"] == "/login"
        callback = client.get(
            "/v1/oauth/callback/?state=abc&code=x", headers=raw_cookie(authbridge_oauth=value)
        )
        assert callback.status_code == 400
        login = client.get("/login", headers=raw_cookie(authbridge_csrf=value))
        assert login.status_code == 200


def test_non_utf8_form_bodies_are_not_a_500(client: TestClient) -> None:
    body = b"state=%FF%FE&code=\xff\xfe&email=\xc3"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for path in ("/v1/oauth/redirect/", "/login", "/signup", "/v1/oauth/mock/authorize"):
        response = client.post(path, content=body, headers=headers)
        assert response.status_code < 500, path


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/plain",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_odd_content_types_are_not_a_500(client: TestClient, content_type: str) -> None:
    for path in ("/login", "/signup", "/setup", "/logout", "/v1/oauth/redirect/"):
        response = client.post(path, content=b'{"a": 1}', headers={"content-type": content_type})
        assert response.status_code < 500, (path, response.status_code)


def test_absurd_query_strings_are_not_a_500(client: TestClient) -> None:
    junk = [
        "next=" + "/" + "a" * 30_000,
        "next=%00%0d%0aSet-Cookie:%20x=1",
        "provider=" + "\u00e9" * 300,
        "state=" + "s" * 600 + "&code=c",
        "&".join(f"f{i}=v" for i in range(200)),
        "state=a&state=b&error=access_denied",
        "error=" + "e" * 5000,
        "login_hint=%ff%fe",
        "token=%00",
    ]
    paths = [
        "/",
        "/login",
        "/signup",
        "/setup",
        "/account",
        "/account/password",
        "/v1/oauth/start",
        "/v1/oauth/callback/",
        "/v1/oauth/redirect/",
        "/v1/oauth/mock/authorize",
    ]
    for path in paths:
        for query in junk:
            response = client.get(f"{path}?{query}", follow_redirects=False)
            assert response.status_code < 500, (path, query[:40], response.status_code)
            for name, value in response.headers.items():
                assert "\r" not in value and "\n" not in value, name
            assert "set-cookie: x=1" not in str(response.headers).lower()


def test_huge_form_fields_are_not_a_500(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "u" * 1_000_000,
            "password": "p" * 1_000_000,
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    assert 400 <= response.status_code < 500


def test_signup_failure_creates_nothing(app_factory: AppFactory) -> None:
    client = app_factory()
    assert sign_up(client, "ada@example.com", "short").status_code == 400
    assert sign_up(client, "ada@example.com").status_code == 303
