"""Client authentication (RFC 6749 §2.3.1) across a secret rotation: the current secret and,
until its expiry, the replaced one; both compared every time, whichever matches."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authbridge.provider import clients as clients_module
from authbridge.provider.clients import Client, ClientRegistry, authenticate_client, secret_matches
from authbridge.provider.errors import OAuthError
from authbridge.provider.secrets import digest

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROTATED = Client(
    "app",
    secret_hash=digest("new-secret"),
    previous_secret_hash=digest("old-secret"),
    previous_secret_expires_at=NOW + timedelta(hours=1),
    source="database",
)


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_either_secret_until_the_old_ones_expiry_then_only_the_new() -> None:
    registry = ClientRegistry({}, lambda cid: ROTATED if cid == "app" else None)
    for secret in ("new-secret", "old-secret"):
        found = authenticate_client(registry, _basic("app", secret), {}, now=NOW)
        assert found.client_id == "app"
    # The cached copy is the same object: its expiry is honoured without a reload.
    later = NOW + timedelta(hours=1)
    assert authenticate_client(registry, _basic("app", "new-secret"), {}, now=later)
    for secret in ("old-secret", "wrong", ""):
        with pytest.raises(OAuthError) as refused:
            authenticate_client(registry, _basic("app", secret), {}, now=later)
        assert refused.value.error == "invalid_client" and refused.value.status == 401
    with pytest.raises(OAuthError):
        authenticate_client(registry, _basic("app", "wrong"), {}, now=NOW)


def test_no_stored_digest_never_matches_the_placeholder() -> None:
    """A client without a previous secret compares against a placeholder digest; no
    presented secret can match it, and a missing current digest matches nothing either."""
    bare = Client("app", secret_hash=None, source="database")
    assert not secret_matches(bare, "x", NOW)
    expired_only = Client(
        "app",
        secret_hash=digest("new"),
        previous_secret_hash="0" * 64,
        previous_secret_expires_at=NOW - timedelta(seconds=1),
    )
    assert not secret_matches(expired_only, "", NOW)


@pytest.mark.parametrize("secret", ["new-secret", "old-secret", "wrong"])
def test_both_digests_are_compared_whichever_matches(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    compare = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(clients_module.hmac, "compare_digest", counting)
    secret_matches(ROTATED, secret, NOW)
    secret_matches(Client("plain", secret_hash=digest("new-secret")), secret, NOW)
    # Two constant-time comparisons per authentication, with or without a previous secret,
    # matched or not: no early exit tells which one matched.
    assert len(calls) == 4
