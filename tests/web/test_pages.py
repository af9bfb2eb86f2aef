"""Sign-up, sign-in, sign-out and the signed-in page through the ASGI app."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from tests.conftest import _fresh_postgres, make_settings, started_clients
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


BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_wrong_passwords_reach_the_check_only_up_to_the_limit(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """OWASP "Login Throttling": a limit of N means N guesses, also when they arrive at
    once. Every request is held inside the password check until all have either reached
    it or been answered, so a throttle that reads the count before counting lets them all
    through; counted first (one atomic increment each), only N reach it."""
    env: dict[str, str] = {}
    if backend == "postgresql":
        url = _fresh_postgres(request.getfixturevalue("postgres_server_url"))
    else:
        url = f"sqlite:///{tmp_path / 'authbridge.db'}"
    if backend == "redis":
        env = {
            "REDIS__URL": request.getfixturevalue("redis_url"),
            "REDIS__KEY_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    with started_clients() as start:
        client = start(create_app(make_settings(url, **env)))
        assert sign_up(client).status_code == 303
        client.cookies.clear()
        token = csrf(client.get("/login").text)
        ready = client.app.state.services.ready()  # type: ignore[attr-defined]
        limit = client.app.state.services.settings.auth.local.rate_limit.per_account_and_address  # type: ignore[attr-defined]
        tries = limit + 4
        state = threading.Condition()
        checked: list[str] = []
        answered: list[int] = []
        release = threading.Event()
        authenticate = ready.accounts.authenticate

        def held(account: str, password: str) -> Any:
            with state:
                checked.append(account)
                state.notify_all()
            release.wait(30)
            return authenticate(account, password)

        ready.accounts.authenticate = held

        def guess(i: int) -> int:
            response = client.post(
                "/login",
                data={"username": "ada@example.com", "password": f"guess-{i}", "csrf_token": token},
                follow_redirects=False,
            )
            with state:
                answered.append(response.status_code)
                state.notify_all()
            return response.status_code

        with ThreadPoolExecutor(max_workers=tries) as pool:
            futures = [pool.submit(guess, i) for i in range(tries)]
            with state:
                assert state.wait_for(lambda: len(checked) + len(answered) == tries, 60)
            release.set()
            statuses = sorted(f.result() for f in futures)
        assert len(checked) == limit
        assert statuses == [401] * limit + [429] * (tries - limit)
        # The right password is refused too until the window lapses.
        assert sign_in(client).status_code == 429


def test_right_passwords_do_not_use_up_the_shared_limits(app_factory: AppFactory) -> None:
    """Counting before the check must not make sign-ins that succeed add up to the per
    address limit (an office behind one address): each gives its count back."""
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ADDRESS="3")
    assert sign_up(client).status_code == 303
    for _ in range(5):
        client.cookies.clear()  # no device cookie: the shared per-address limit applies
        assert sign_in(client).status_code == 303
