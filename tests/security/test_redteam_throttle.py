"""Red team, issue 10 defect 12: ways around the throttles of failed authentication (client
credentials, and the sign-in page's password throttle, which shares the weakness).

An attacker with an IPv6 connection holds a whole /64 (RFC 6177, RFC 7421: the usual end-site
and SLAAC subnet) and can pick a fresh source address per request; counted per /128 address,
the per-(credential, address) and per-address limits never fire.
"""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from authbridge.config.model import RateLimitSettings
from authbridge.directory.throttle import CredentialLimits, SignInThrottle
from authbridge.provider.errors import OAuthError
from authbridge.storage import Storage
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS, SECRET
from tests.provider.test_token import provider_of
from tests.security.conftest import AppFactory

LIMITS = CredentialLimits()  # the defaults the endpoints use
FORM = {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x"}


@pytest.fixture
def op(app_factory: AppFactory, sqlite_url: str) -> TestClient:
    return app_factory(make_settings(sqlite_url).model_copy(update={"clients": CLIENTS}))


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_rotating_ipv6_addresses_in_one_slash64_does_not_escape_the_throttle(
    op: TestClient,
) -> None:
    provider = provider_of(op)
    wrong = _basic("webapp", "wrong")
    for host in range(1, LIMITS.per_credential_and_address + 1):
        with pytest.raises(OAuthError) as failed:
            provider.token(wrong, FORM, f"2001:db8:1:2::{host:x}")
        assert failed.value.error == "invalid_client"
    with pytest.raises(OAuthError) as throttled:
        provider.token(wrong, FORM, "2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert throttled.value.status == 429
    # Another /64 (another site) is not affected: the legitimate client keeps working.
    with pytest.raises(OAuthError) as refused:
        provider.token(_basic("webapp", SECRET), FORM, "2001:db8:1:3::1")
    assert refused.value.error == "invalid_grant"


def test_ipv4_mapped_ipv6_counts_as_the_ipv4_address(op: TestClient) -> None:
    """A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; a proxy may write either
    form in X-Forwarded-For: both are one caller."""
    provider = provider_of(op)
    wrong = _basic("webapp", "wrong")
    for n in range(LIMITS.per_credential_and_address):
        address = "198.51.100.7" if n % 2 else "::ffff:198.51.100.7"
        with pytest.raises(OAuthError):
            provider.token(wrong, FORM, address)
    with pytest.raises(OAuthError) as throttled:
        provider.token(wrong, FORM, "::ffff:c633:6407")
    assert throttled.value.status == 429


def test_password_spraying_from_one_ipv6_site_meets_the_per_address_limit(
    storage: Storage,
) -> None:
    """One password tried on many accounts (OWASP "password spraying") never reaches the
    per-account limit; the per-address limit is what stops it, and a fresh IPv6 address
    per try escaped it."""
    limits = RateLimitSettings()
    throttle = SignInThrottle(storage.rate_limits, limits)
    for n in range(limits.per_address):
        address = f"2001:db8:7:7::{n + 1:x}"
        assert not throttle.check(f"user{n}@example.com", address).throttled
        throttle.failed(f"user{n}@example.com", address)
    assert throttle.check("next@example.com", "2001:db8:7:7:abcd::1").throttled
    assert not throttle.check("next@example.com", "2001:db8:7:8::1").throttled


def test_failed_sign_ups_from_one_ipv6_site_meet_the_limit(storage: Storage) -> None:
    """A sign-up form that says an address is taken is an enumeration oracle; its limit
    counts per address, which a fresh IPv6 address per try escaped."""
    limits = RateLimitSettings()
    throttle = SignInThrottle(storage.rate_limits, limits)
    for n in range(limits.per_address):
        throttle.signup_failed(f"2001:db8:7:7::{n + 1:x}")
    assert throttle.check_signup("2001:db8:7:7::ffff").throttled
