"""Attacks on the browser surface: CSRF, session fixation, enumeration, guessing, redirects."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from authbridge.directory.passwords import PasswordHashing
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up


def test_form_without_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "a@example.com", "password": "x" * 10})
    assert response.status_code == 403


def test_csrf_token_from_another_browser_is_refused(app_factory: AppFactory) -> None:
    victim, attacker = app_factory(), app_factory()
    token = csrf(attacker.get("/signup").text)
    victim.get("/signup")
    response = victim.post(
        "/signup", data={"email": "v@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}],
)
def test_cross_site_post_is_refused_even_with_a_valid_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    token = csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "a@example.com", "password": PASSWORD, "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 403


def test_every_form_carries_a_csrf_token(client: TestClient) -> None:
    sign_up(client)
    for path in ("/account", "/account/password"):
        html = client.get(path).text
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, re.S):
            assert 'name="csrf_token"' in form, f"form without CSRF token on {path}"


def _session_cookie(response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("authbridge_session="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no session cookie set")


def test_session_id_changes_at_sign_in_and_a_planted_one_is_useless(
    app_factory: AppFactory,
) -> None:
    client = app_factory()
    sign_up(client)
    planted = "attacker-chosen-session-id-0123456789"
    victim = TestClient(
        client.app, base_url="http://localhost:8080", cookies={"authbridge_session": planted}
    )
    first = _session_cookie(sign_in(victim))
    assert first != planted
    victim.cookies.clear()
    victim.cookies.set("authbridge_session", first)
    second = _session_cookie(sign_in(victim))  # signing in again rotates the id ...
    assert second != first
    stale = TestClient(
        client.app, base_url="http://localhost:8080", cookies={"authbridge_session": first}
    )
    assert stale.get("/account", follow_redirects=False).status_code == 303  # ... and ends it
    fixed = TestClient(
        client.app, base_url="http://localhost:8080", cookies={"authbridge_session": planted}
    )
    assert fixed.get("/account", follow_redirects=False).status_code == 303


def test_cookie_flags_over_http(client: TestClient) -> None:
    response = sign_up(client)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("authbridge_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # would be dropped by browsers over plain http


def test_cookie_flags_over_https(app_factory: AppFactory) -> None:
    client = app_factory(SERVER__ISSUER="https://auth.example.com")
    client.base_url = client.base_url.copy_with(scheme="https")
    page = client.get("/signup")
    set_cookies = page.headers.get_list("set-cookie")
    assert any(c.startswith("__Host-authbridge_csrf=") for c in set_cookies)
    response = client.post(
        "/signup",
        data={"email": "h@example.com", "password": PASSWORD, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    cookie = next(
        c
        for c in response.headers.get_list("set-cookie")
        if c.startswith("__Host-authbridge_session=")
    )
    # RFC 6265bis §4.1.3.2: __Host- requires Secure, Path=/ and no Domain.
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie and "SameSite=lax" in cookie
    assert "max-age=31536000" in response.headers["strict-transport-security"]


def test_unknown_user_and_wrong_password_look_the_same(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up(client)
    client.cookies.clear()
    calls: list[str | None] = []
    original = PasswordHashing.verify

    def counting(self: PasswordHashing, stored: str | None, password: str) -> bool:
        calls.append(stored)
        return original(self, stored, password)

    monkeypatch.setattr(PasswordHashing, "verify", counting)
    wrong = sign_in(client, "ada@example.com", "not the password at all")
    unknown = sign_in(client, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    message = re.compile(r'<p class="error"[^>]*>(.*?)</p>')
    assert message.search(wrong.text).group(1) == message.search(unknown.text).group(1)
    # The same argon2 work is done either way: one verification, same parameters.
    assert len(calls) == 2 and calls[0] is not None and calls[1] is None


def test_disabled_account_cannot_sign_in(client: TestClient) -> None:
    sign_up(client)
    services = client.app.state.services
    user = services.ready().storage.users.by_username("ada@example.com")
    services.ready().storage.users.set_active(user.id, False)
    client.cookies.clear()
    assert sign_in(client).status_code == 401


def test_guessing_is_throttled_without_locking_out_the_owner(app_factory: AppFactory) -> None:
    owner = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ACCOUNT="5")
    sign_up(owner)
    page = owner.get("/account")
    owner.post("/logout", data={"csrf_token": csrf(page.text)})
    assert sign_in(owner).status_code == 303  # gets the device cookie
    owner.cookies.delete("authbridge_session")

    attacker = TestClient(owner.app, base_url="http://localhost:8080")
    for _ in range(5):
        assert sign_in(attacker, password="wrong guess 123").status_code == 401
    blocked = sign_in(attacker)  # even the right password is refused while throttled
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert sign_in(owner).status_code == 303  # the owner's browser is not locked out


def test_open_redirect_through_next_is_refused(client: TestClient) -> None:
    sign_up(client)
    client.cookies.delete("authbridge_session")
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x"):
        page = client.get("/login", params={"next": target})
        response = client.post(
            "/login",
            data={
                "username": "ada@example.com",
                "password": PASSWORD,
                "csrf_token": csrf(page.text),
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/account", target
        client.cookies.delete("authbridge_session")
    page = client.get("/login", params={"next": "/oauth/authorize?x=1"})
    response = client.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(page.text),
            "next": "/oauth/authorize?x=1",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/oauth/authorize?x=1"


def test_signup_can_be_turned_off(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__ALLOW_SIGNUP="false")
    assert client.get("/signup").status_code == 404
    assert "/signup" not in client.get("/login").text


def test_principal_domain_restricts_signup(app_factory: AppFactory) -> None:
    client = app_factory(AUTHORIZER__PRINCIPAL_DOMAIN="corp.example")
    response = sign_up(client, email="mallory@evil.example")
    assert response.status_code == 400 and "corp.example" in response.text
    assert sign_up(client, email="ann@corp.example").status_code == 303


def test_self_signup_never_grants_admin_even_if_listed(app_factory: AppFactory) -> None:
    client = app_factory(AUTHORIZER__INITIAL_ADMINS="ada@example.com")
    sign_up(client)
    assert re.search(r'id="who-roles">viewer<', client.get("/account").text)


def test_common_password_refused_at_signup_and_nothing_created(client: TestClient) -> None:
    response = sign_up(client, password="password1")
    assert response.status_code == 400 and "too common" in response.text
    assert client.app.state.services.ready().storage.users.count() == 0


def test_password_change_signs_out_other_browsers(app_factory: AppFactory) -> None:
    first = app_factory()
    sign_up(first)
    second = TestClient(first.app, base_url="http://localhost:8080")
    sign_in(second)
    page = first.get("/account/password")
    response = first.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "an entirely new passphrase",
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert first.get("/account").status_code == 200
    assert second.get("/account", follow_redirects=False).status_code == 303
    assert sign_in(second, password="an entirely new passphrase").status_code == 303


def test_wrong_current_password_does_not_change_it(client: TestClient) -> None:
    sign_up(client)
    page = client.get("/account/password")
    response = client.post(
        "/account/password",
        data={
            "current_password": "nope nope nope",
            "new_password": "an entirely new passphrase",
            "csrf_token": csrf(page.text),
        },
    )
    assert response.status_code == 400
    client.cookies.delete("authbridge_session")
    assert sign_in(client).status_code == 303


def test_setup_link_with_wrong_token_and_initial_admins(app_factory: AppFactory, capsys) -> None:
    client = app_factory(AUTHORIZER__INITIAL_ADMINS="root@example.com")
    token = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().out).group(1)
    assert client.get("/setup", params={"token": token[:-1] + "x"}).status_code == 404
    form = client.get("/setup", params={"token": token})
    not_listed = client.post(
        "/setup",
        data={
            "token": token,
            "email": "eve@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(form.text),
        },
    )
    assert not_listed.status_code == 400 and "initialAdmins" in not_listed.text
    ok = client.post(
        "/setup",
        data={
            "token": token,
            "email": "root@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303


@pytest.mark.parametrize("email", ["okta:00u-ivy@example.com", "okta\uff1a00u-ivy@example.com"])
def test_local_signup_cannot_take_a_connector_namespace_name(
    client: TestClient, email: str
) -> None:
    response = sign_up(client, email=email)
    assert response.status_code == 400 and "valid email" in response.text
    assert client.app.state.services.ready().storage.users.count() == 0


def test_sessions_per_user_are_capped_and_the_oldest_ends(app_factory: AppFactory) -> None:
    client = app_factory(SESSIONS__MAX_PER_USER="2")
    sign_up(client)  # session 1
    browsers = []
    for _ in range(2):  # sessions 2 and 3, each in a browser of its own
        browser = TestClient(client.app, base_url="http://localhost:8080")
        assert sign_in(browser).status_code == 303
        browsers.append(browser)
    assert client.get("/account", follow_redirects=False).status_code == 303  # evicted
    for browser in browsers:
        assert browser.get("/account", follow_redirects=False).status_code == 200


def test_tests_hash_cheaply_but_no_configuration_can(sqlite_url: str) -> None:
    from authbridge.config import ConfigError
    from tests.conftest import make_settings

    cheap = make_settings(sqlite_url).auth.local.password_hash
    assert (cheap.memory_cost, cheap.time_cost) == (8, 1)  # not the 19 MiB floor
    with pytest.raises(ConfigError, match=r"memoryCost|memory_cost"):
        make_settings(sqlite_url, AUTH__LOCAL__PASSWORD_HASH__MEMORY_COST="8")
