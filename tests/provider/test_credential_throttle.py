"""Failed credential checks of programs are throttled (issue 10, defect 12): OAuth clients
at the token endpoint (RFC 6749 §2.3.1: "MUST protect ... against brute force attacks") and
SCIM provisioning sources. 429 with Retry-After; never a lock-out of the legitimate caller."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from authbridge.directory.throttle import CredentialLimits, CredentialThrottle
from authbridge.provider.errors import OAuthError
from authbridge.storage import Storage
from tests.conftest import make_settings
from tests.provider.conftest import SECRET
from tests.web.conftest import AppFactory

LIMITS = CredentialLimits()  # the defaults the endpoints use


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _token(op: TestClient, secret: str):
    return op.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": _basic("webapp", secret)},
    )


def test_token_endpoint_throttles_wrong_client_secrets(op: TestClient) -> None:
    for _ in range(LIMITS.per_credential_and_address):
        assert _token(op, "wrong").status_code == 401
    throttled = _token(op, "wrong")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) == LIMITS.window
    assert throttled.json()["error"] == "temporarily_unavailable"
    # Not checked while throttled: the right secret from the same address waits too.
    assert _token(op, SECRET).status_code == 429


def test_client_throttle_spares_the_legitimate_caller_elsewhere(op: TestClient) -> None:
    from tests.provider.test_token import provider_of

    provider = provider_of(op)
    form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x"}
    wrong, right = _basic("webapp", "wrong"), _basic("webapp", SECRET)
    for _ in range(LIMITS.per_credential_and_address):
        with pytest.raises(OAuthError) as failed:
            provider.token(wrong, form, "198.51.100.7")
        assert failed.value.error == "invalid_client"
    with pytest.raises(OAuthError) as throttled:
        provider.token(wrong, form, "198.51.100.7")
    assert throttled.value.status == 429 and throttled.value.retry_after == LIMITS.window
    # The client's own host still authenticates: the made-up code is refused, not the client.
    with pytest.raises(OAuthError) as refused:
        provider.token(right, form, "203.0.113.9")
    assert refused.value.error == "invalid_grant"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_credential_throttle_limits_lapse_with_their_window(storage: Storage) -> None:
    clock = Clock()
    throttle = CredentialThrottle(storage.rate_limits, "test", CredentialLimits(60, 3, 5), clock)
    assert not throttle.check("client", "a").throttled
    for _ in range(3):
        throttle.failed("client", "a")
    assert throttle.check("client", "a").retry_after == 60
    assert not throttle.check("client", "b").throttled  # another address: unaffected
    assert not throttle.check("other", "a").throttled  # per address: 3 of 5 so far
    throttle.failed("other", "a")
    throttle.failed("other", "a")
    assert throttle.check("third", "a").throttled  # the wider per-address limit
    clock.now += timedelta(seconds=61)
    assert not throttle.check("client", "a").throttled  # never for good


def test_a_replica_sees_failures_counted_by_another(storage: Storage) -> None:
    clock = Clock()
    limits = CredentialLimits(60, 3, 50)
    first = CredentialThrottle(storage.rate_limits, "test", limits, clock)
    second = CredentialThrottle(storage.rate_limits, "test", limits, clock)
    for _ in range(3):
        first.failed("client", "a")
    # The second process has seen no failure of its own yet: one unchecked try ...
    assert not second.check("client", "a").throttled
    second.failed("client", "a")
    # ... after which it reads the shared counters.
    assert second.check("client", "a").throttled


def test_scim_throttles_wrong_credentials(app_factory: AppFactory, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, SCIM__OKTA__AUTH_CODE="okta:right-password")
    app = app_factory(settings)
    wrong = {"authorization": _basic("okta", "wrong")}
    for _ in range(LIMITS.per_credential_and_address):
        assert app.get("/v1/scim/v2/okta/Users", headers=wrong).status_code == 401
    throttled = app.get("/v1/scim/v2/okta/Users", headers=wrong)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) == LIMITS.window
    body = throttled.json()
    assert body["status"] == "429"  # RFC 7644 §3.12: the status as a JSON string
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
