"""The account page's self-service: the user's own browser sessions and connected apps,
each ended by a CSRF-protected POST that goes through the one `Revocation`."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from authbridge.web.account_pages import describe_device
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS
from tests.provider.test_token import code_for, redeem
from tests.web.conftest import AppFactory
from tests.web.test_pages import csrf, sign_in, sign_up
from tests.web.test_revocation import _refresh

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def op(app_factory: AppFactory, database_url: str) -> TestClient:
    return app_factory(make_settings(database_url).model_copy(update={"clients": CLIENTS}))


def _second_browser(first: TestClient, user_agent: str) -> TestClient:
    """Another browser on the same running app: its own cookies."""
    other = TestClient(first.app, headers={"user-agent": user_agent})
    return other


def _session_ids(html: str) -> list[str]:
    return re.findall(r'name="session" value="([0-9a-f]{64})"', html)


def test_the_account_page_lists_where_the_user_is_signed_in(op: TestClient) -> None:
    op.headers["user-agent"] = FIREFOX
    sign_up(op)
    phone = _second_browser(op, SAFARI)
    assert sign_in(phone).status_code == 303
    page = op.get("/account").text
    assert "Firefox on Linux" in page and "Safari on iPhone" in page
    assert len(_session_ids(page)) == 2
    this = re.search(r'<tr id="this-session">(.*?)</tr>', page, re.S)
    assert this and "Firefox on Linux" in this.group(1) and "this browser" in this.group(1)
    assert "testclient" in page or "127.0.0.1" in page  # the address


def test_ending_another_session_signs_that_browser_out(op: TestClient) -> None:
    sign_up(op)
    phone = _second_browser(op, SAFARI)
    sign_in(phone)
    assert phone.get("/account", follow_redirects=False).status_code == 200
    page = op.get("/account").text
    own = re.search(r'<tr id="this-session">.*?name="session" value="(\w+)"', page, re.S)
    assert own
    other = next(i for i in _session_ids(page) if i != own.group(1))
    ended = op.post(
        "/account/sessions/end",
        data={"session": other, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert ended.status_code == 303 and "session-ended" in ended.headers["location"]
    assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert op.get("/account", follow_redirects=False).status_code == 200  # this one stays
    assert _session_ids(op.get("/account").text) == [own.group(1)]


def test_ending_this_session_signs_out_here(op: TestClient) -> None:
    sign_up(op)
    page = op.get("/account").text
    (own,) = _session_ids(page)
    ended = op.post(
        "/account/sessions/end",
        data={"session": own, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert ended.headers["location"] == "/login"
    assert op.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_a_user_cannot_end_someone_elses_session(op: TestClient) -> None:
    sign_up(op, email="mallory@example.com")
    victim = _second_browser(op, FIREFOX)
    sign_up(victim, email="victim@example.com")
    (victims,) = _session_ids(victim.get("/account").text)
    page = op.get("/account").text
    refused = op.post(
        "/account/sessions/end",
        data={"session": victims, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert "notice=gone" in refused.headers["location"]
    assert victim.get("/account", follow_redirects=False).status_code == 200


def test_ending_needs_the_csrf_token(op: TestClient) -> None:
    sign_up(op)
    phone = _second_browser(op, SAFARI)
    sign_in(phone)
    page = op.get("/account").text
    for token in ("", "forged"):
        for session in _session_ids(page):
            refused = op.post(
                "/account/sessions/end",
                data={"session": session, "csrf_token": token},
                follow_redirects=False,
            )
            assert refused.status_code == 403
    assert phone.get("/account", follow_redirects=False).status_code == 200


def test_connected_apps_are_listed_and_ended(op: TestClient) -> None:
    sign_up(op)
    assert 'id="no-apps"' in op.get("/account").text
    tokens = redeem(op, code_for(op)).json()
    page = op.get("/account").text
    grants = re.findall(r'name="grant" value="([^"]+)"', page)
    assert len(grants) == 1 and "Web app" in page and "openid email" in page
    ended = op.post(
        "/account/apps/end",
        data={"grant": grants[0], "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert "app-ended" in ended.headers["location"]
    assert _refresh(op, tokens["refresh_token"])["error"] == "invalid_grant"
    assert 'id="no-apps"' in op.get("/account").text


def test_a_user_cannot_end_someone_elses_app(op: TestClient) -> None:
    sign_up(op, email="owner@example.com")
    tokens = redeem(op, code_for(op)).json()
    grant = re.findall(r'name="grant" value="([^"]+)"', op.get("/account").text)[0]
    mallory = _second_browser(op, FIREFOX)
    sign_up(mallory, email="mallory@example.com")
    page = mallory.get("/account").text
    refused = mallory.post(
        "/account/apps/end",
        data={"grant": grant, "csrf_token": csrf(page)},
        follow_redirects=False,
    )
    assert "notice=gone" in refused.headers["location"]
    assert "refresh_token" in _refresh(op, tokens["refresh_token"])


@pytest.mark.parametrize(
    ("agent", "named"),
    [
        (FIREFOX, "Firefox on Linux"),
        (SAFARI, "Safari on iPhone"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        ("curl/8.5.0", "curl"),
        (None, "Unknown device"),
        ("<script>", "Unknown device"),
    ],
)
def test_devices_are_named_for_people(agent: str | None, named: str) -> None:
    assert describe_device(agent) == named
