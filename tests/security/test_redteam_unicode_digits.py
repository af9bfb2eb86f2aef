"""Red team: digits that are not ASCII. `str.isdigit()` is true for `²` (which `int()`
refuses) and for fullwidth or Arabic-Indic digits (which `hmac.compare_digest` refuses
in a str): each check that trusted it then raised, a 500, where the input deserves a 4xx.
A TOTP code typed in Arabic-Indic digits was a 500 at the second step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.provider.conftest import CLIENTS
from tests.provider.test_authorize import authorize_url
from tests.web.conftest import AppFactory
from tests.web.console.conftest import Console
from tests.web.test_mfa_pages import enrolled_user, post_code
from tests.web.test_pages import sign_in, sign_up

ODD_DIGITS = ["²", "１２３４５６", "١٢٣٤٥٦", "৪"]  # noqa: RUF001


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url))))


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_authorize_max_age(app_factory: AppFactory, sqlite_url: str, digits: str) -> None:
    settings = make_settings(sqlite_url).model_copy(update={"clients": CLIENTS})
    browser = app_factory(settings)
    assert sign_up(browser).status_code == 303
    answer = browser.get(authorize_url(max_age=digits), follow_redirects=False)
    assert answer.status_code < 500
    assert "error=invalid_request" in answer.headers.get("location", "")


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_second_step_code(client: TestClient, digits: str) -> None:
    enrolled_user(client)
    sign_in(client)
    assert post_code(client, digits.ljust(6, digits[0])[:6]).status_code == 401


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_console_numbers(console: Console, digits: str) -> None:
    user = console.ready.storage.users.create(username="t@example.com", email="t@example.com")
    assert console.page(f"/admin/roles?limit={digits}").status_code == 400
    assert console.page(f"/admin/teams?limit={digits}").status_code == 400
    unlink = console.post(
        f"/admin/users/{user.id}/identities/unlink", {"identity": digits, "confirmed": "yes"}
    )
    assert unlink.status_code == 400
    revoke = console.post(f"/admin/roles/bindings/{digits}/revoke", {"confirmed": "yes"})
    assert 400 <= revoke.status_code < 500
