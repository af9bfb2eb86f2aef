"""Sign-up, sign-in, sign-out and the signed-in page through the ASGI app."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.conftest import AppFactory

PASSWORD = "correct horse battery staple"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


def sign_up(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    page = client.get("/signup")
    return client.post(
        "/signup",
        data={"email": email, "password": password, "name": "Ada", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )


def sign_in(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": email, "password": password, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )


def test_sign_up_then_sign_in_shows_who_and_a_token(client: TestClient) -> None:
    assert sign_up(client).status_code == 303
    client.cookies.clear()
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "ada@example.com" in page.text
    assert re.search(r'<textarea id="token"[^>]*>ey[\w-]+\.[\w-]+\.[\w-]+</textarea>', page.text)


def test_login_page_lists_local_form(client: TestClient) -> None:
    page = client.get("/login")
    assert 'action="/login"' in page.text and 'autocomplete="current-password"' in page.text


def test_a_signed_in_browser_is_sent_on_from_the_login_page(client: TestClient) -> None:
    assert sign_up(client).status_code == 303
    response = client.get("/login?next=/account", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account"
    client.cookies.clear()
    client.cookies.set("authbridge_session", "forged")  # unknown session: the form again
    assert 'action="/login"' in client.get("/login", follow_redirects=False).text


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    sign_up(client)
    cookie = client.cookies.get("authbridge_session")
    assert cookie
    page = client.get("/account")
    client.post("/logout", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    client.cookies.set("authbridge_session", cookie)  # a stolen copy of the old cookie
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_setup_link_creates_the_first_admin_once(app_factory: AppFactory, capsys) -> None:
    client = app_factory()
    link = re.search(r"(/setup\?token=[\w-]+)", capsys.readouterr().out)
    assert link
    form = client.get(link.group(1))
    token = link.group(1).split("=", 1)[1]
    response = client.post(
        "/setup",
        data={
            "token": token,
            "email": "root@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "admin" in client.get("/account").text
    again = client.get(link.group(1))
    assert again.status_code == 404
