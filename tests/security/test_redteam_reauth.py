"""Red team, issue 10 defect 7: the `_reauth` marker (prompt=login / max_age=0).

Tried and held: a marker without its browser's cookie, with a forged or another browser's
cookie, for another client or request, replayed, another user's, too old. This file pins
what did not hold: the single-use counter lapsed before the marker did. The marker is
checked in whole seconds (valid through `issued + REAUTH_TTL`), the counter by the instant
of first use plus REAUTH_TTL, so a marker first used late in the second it was issued could
be used a second time in the last second of its life.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from authbridge.web import oauth_routes
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS, location_params
from tests.provider.test_authorize import authorize_url
from tests.security.conftest import AppFactory
from tests.web.test_pages import sign_in, sign_up


@pytest.fixture
def browser(app_factory: AppFactory, sqlite_url: str) -> TestClient:
    client = app_factory(make_settings(sqlite_url).model_copy(update={"clients": CLIENTS}))
    assert sign_up(client).status_code == 303
    return client


def test_a_marker_counts_once_to_the_last_second_of_its_life(
    browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The marker is issued late in a second that lies a little in the past (the session
    # made by signing in below is then newer than the marker, as it must be).
    second = datetime.fromtimestamp(int(utcnow().timestamp()) - 2, UTC)
    clock = {"now": second + timedelta(seconds=0.1)}
    monkeypatch.setattr(oauth_routes, "utcnow", lambda: clock["now"])
    sent = browser.get(authorize_url(prompt="login"), follow_redirects=False)
    next_url = dict(parse_qsl(urlsplit(sent.headers["location"]).query))["next"]
    assert sign_in(browser).status_code == 303
    clock["now"] = second + timedelta(seconds=0.9)  # first use, in the issuing second
    assert "code" in location_params(browser.get(next_url, follow_redirects=False))
    # The last second in which the marker is valid: the replay must still be refused.
    clock["now"] = second + timedelta(seconds=oauth_routes.REAUTH_TTL + 0.95)
    replayed = browser.get(next_url, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login?next=")


def test_a_marker_does_not_count_with_another_browsers_reauth_cookie(browser: TestClient) -> None:
    """Bob's browser holds a re-authentication cookie of its own (his own prompt=login
    request) and a session newer than Ada's marker: Ada's marker still does not count."""
    sent = browser.get(authorize_url(prompt="login"), follow_redirects=False)
    ada_next = dict(parse_qsl(urlsplit(sent.headers["location"]).query))["next"]
    browser.cookies.clear()
    assert sign_up(browser, email="bob@example.com").status_code == 303
    own = browser.get(authorize_url(prompt="login", state="bobs"), follow_redirects=False)
    assert own.headers["location"].startswith("/login?next=")
    assert sign_in(browser, "bob@example.com").status_code == 303
    replayed = browser.get(ada_next, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login?next=")
