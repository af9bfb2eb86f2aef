"""Red team: the one-time setup link and self-service sign-up."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from authbridge.config.model import AuthorizerSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker
from authbridge.web.services import Services
from tests.security.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_up
from tests.wiring import system_roles


def _setup_token(capsys: pytest.CaptureFixture[str]) -> str:
    link = re.search(r"/setup\?token=([\w-]+)", capsys.readouterr().out)
    assert link, "no setup link printed"
    return link.group(1)


def _post_setup(client: TestClient, token: str, email: str) -> int:
    form = client.get(f"/setup?token={token}")
    anchor = csrf(form.text) if form.status_code == 200 else csrf(client.get("/login").text)
    response = client.post(
        "/setup",
        data={"token": token, "email": email, "password": PASSWORD, "csrf_token": anchor},
        follow_redirects=False,
    )
    return response.status_code


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def test_setup_link_dies_once_an_admin_exists_by_another_path(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The link is printed to stdout, which container platforms ship to the log pipeline
    like any other line; while it lives, anyone who reads it can create an admin."""
    client = app_factory()
    token = _setup_token(capsys)
    storage = _services(client).ready().storage
    boss = IdentityLinker(storage, AuthorizerSettings(initial_admins=["boss@example.com"]))
    user = boss.sign_in(
        Identity("okta", "00u-boss", "boss", "boss@example.com", True), SignupPolicy()
    )
    assert system_roles(storage, user.id) == ["admin"]
    # Someone who saw the printed link (a log viewer) now tries it with a listed address.
    assert _post_setup(client, token, "intruder@example.com") == 404
    assert storage.users.by_username("intruder@example.com") is None


def test_setup_link_works_once_and_not_again(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    token = _setup_token(capsys)
    assert _post_setup(client, token, "root@example.com") == 303
    client.cookies.clear()
    assert _post_setup(client, token, "second@example.com") == 404
    assert client.get(f"/setup?token={token}").status_code == 404


@pytest.mark.parametrize("guess", ["", "x", "%00", "a" * 43, "' OR 1=1 --"])
def test_setup_with_a_guessed_token_is_refused(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str], guess: str
) -> None:
    client = app_factory()
    real = _setup_token(capsys)
    assert _post_setup(client, guess, "root@example.com") == 404
    assert _post_setup(client, real[:-1], "root@example.com") == 404


def test_setup_page_keeps_the_token_out_of_referer_and_caches(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    token = _setup_token(capsys)
    page = client.get(f"/setup?token={token}")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    # The form posts the token in the body, not back into a URL.
    assert 'action="/setup"' in page.text and f"token={token}" not in page.text


def test_self_signup_cannot_take_admin_even_with_the_setup_page(client: TestClient) -> None:
    """The `admin` decision is the setup route's: a sign-up form posted with extra fields
    (admin=1, role=admin, token) stays a viewer."""
    page = client.get("/signup")
    client.post(
        "/signup",
        data={
            "email": "eve@example.com",
            "password": PASSWORD,
            "admin": "true",
            "role": "admin",
            "roles": "admin",
            "csrf_token": csrf(page.text),
        },
    )
    storage = _services(client).ready().storage
    eve = storage.users.by_username("eve@example.com")
    assert eve is not None and system_roles(storage, eve.id) == ["viewer"]


def test_signup_is_throttled_per_address(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ADDRESS="5")
    assert sign_up(client, "ada@example.com").status_code == 303
    client.cookies.clear()
    statuses = [sign_up(client, f"probe{i}@example.com", "x").status_code for i in range(6)]
    statuses += [sign_up(client, "ada@example.com").status_code for _ in range(6)]
    assert 429 in statuses


def test_signup_answer_reveals_existence_only_as_documented(client: TestClient) -> None:
    """Pinned: the sign-up form says an address is taken (needed for a usable form). The
    sign-in form must not: unknown user and wrong password read the same."""
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    taken = sign_up(client, "ada@example.com")
    assert taken.status_code == 400 and "exists already" in taken.text
    page = client.get("/login")
    unknown = client.post(
        "/login",
        data={
            "username": "nobody@example.com",
            "password": PASSWORD,
            "csrf_token": csrf(page.text),
        },
    )
    wrong = client.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": PASSWORD + "x",
            "csrf_token": csrf(page.text),
        },
    )
    assert unknown.status_code == wrong.status_code == 401
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.text) == strip.sub("", wrong.text)
