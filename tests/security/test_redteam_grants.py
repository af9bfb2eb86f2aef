"""Red team, issue 10 defect 11 and refresh rotation: replays the fixes did not cover.

A code redeemed by its client and then presented by another client has leaked (RFC 6749
§4.1.2: "If an authorization code is used more than once, the authorization server MUST deny
the request and SHOULD revoke ... all tokens previously issued based on that authorization
code"). The refresh path already kills a family presented by another client; the code path
refused the replay without revoking, unless the replay raced the first redemption.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from authbridge.config.model import ClientSettings
from authbridge.provider.errors import OAuthError
from authbridge.provider.secrets import digest
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from tests.conftest import make_settings
from tests.provider.test_code_replay import REDIRECT, _new_code

TRIALS = 10


def _provider(storage: Storage) -> OpenIDProvider:
    settings = make_settings(str(storage.db.engine.url.render_as_string(hide_password=False)))
    grants = ["authorization_code", "refresh_token"]
    client = ClientSettings(secret="s" * 40, redirect_uris=[REDIRECT], grant_types=grants)
    other = client.model_copy(update={"secret": "t" * 40})
    settings = settings.model_copy(update={"clients": {"webapp": client, "other": other}})
    keyring = keyring_for(settings, storage.keys)
    keyring.ensure_key()
    return OpenIDProvider(storage, keyring, issuer_for(settings, keyring), settings)


class Granted:
    """A provider, its `webapp` client and a user, for grants to be redeemed against."""

    def __init__(self, storage: Storage) -> None:
        self.provider = _provider(storage)
        client = self.provider.registry.get("webapp")
        assert client is not None
        self.webapp = client
        self.user_id = storage.users.create(username="ada@example.com", roles=["viewer"]).id

    def code_grant(self) -> dict[str, Any]:
        """The token response to a fresh code, redeemed by `webapp`."""
        code = _new_code(self.provider, self.user_id)
        form = {"code": code, "redirect_uri": REDIRECT}
        return self.provider.grants.authorization_code(self.webapp, form)

    def refresh(self, token: str, **extra: str) -> dict[str, Any]:
        form = {"grant_type": "refresh_token", "refresh_token": token, **extra}
        return self.provider.grants.refresh_token(self.webapp, form)

    def usable(self, refresh_token: str) -> bool:
        found = self.provider.store.refresh_token(digest(refresh_token))
        return found is not None and found[1]


def _twice_at_once(
    call: Callable[[], dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[OAuthError]]:
    """Run `call` on two threads released together; what each answered or raised."""
    barrier = threading.Barrier(2)

    def once() -> dict[str, Any] | OAuthError:
        barrier.wait()
        try:
            return call()
        except OAuthError as failure:
            return failure

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: once(), range(2)))
    return (
        [r for r in results if not isinstance(r, OAuthError)],
        [r for r in results if isinstance(r, OAuthError)],
    )


def test_a_code_replayed_by_another_client_revokes_what_it_issued(storage: Storage) -> None:
    provider = _provider(storage)
    webapp, other = provider.registry.get("webapp"), provider.registry.get("other")
    assert webapp is not None and other is not None
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    code = _new_code(provider, user.id)
    form = {"code": code, "redirect_uri": REDIRECT}
    body = provider.grants.authorization_code(webapp, form)
    assert provider.access_claims(body["access_token"]) is not None
    with pytest.raises(OAuthError) as refused:
        provider.grants.authorization_code(other, form)
    assert refused.value.error == "invalid_grant"
    assert provider.access_claims(body["access_token"]) is None
    found = provider.store.refresh_token(digest(body["refresh_token"]))
    assert found is not None and found[1] is False


def test_a_concurrent_refresh_reuse_leaves_no_live_token_in_the_family(
    storage: Storage,
) -> None:
    """RFC 9700 §4.14.2: of two uses of one refresh token, one is refused and the family is
    revoked, including the successor the other use was issuing at that moment."""
    granted = Granted(storage)
    for _ in range(TRIALS):
        presented = granted.code_grant()["refresh_token"]
        issued, refused = _twice_at_once(partial(granted.refresh, presented))
        assert len(issued) <= 1 and refused
        for body in issued:
            assert not granted.usable(body["refresh_token"]), "the winner's successor lives on"


def test_a_used_refresh_token_replayed_with_a_wider_scope_still_revokes_its_family(
    storage: Storage,
) -> None:
    """RFC 9700 §4.14.2: presenting an invalidated refresh token "will inform the
    authorization server of the breach". The scope was judged first, so a replay asking
    for more scope was refused as invalid_scope and left the family alive: an attacker
    could tell a used token from a revoked one without raising the alarm."""
    granted = Granted(storage)
    stolen = granted.code_grant()["refresh_token"]
    rotated = granted.refresh(stolen)
    with pytest.raises(OAuthError) as refused:
        granted.refresh(stolen, scope="openid email")
    assert refused.value.error == "invalid_grant"
    assert not granted.usable(rotated["refresh_token"]), "the family lives on after a replay"
