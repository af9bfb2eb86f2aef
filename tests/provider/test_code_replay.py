"""A code redeemed twice at the same moment (RFC 6749 §4.1.2): the replay is refused AND
every token issued from the code is revoked, however close together the two uses come.

Real concurrency on each backend (threads released by a barrier, many trials): the replay
may read the code before the first redemption has recorded what it issued.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from authbridge.clock import utcnow
from authbridge.config.model import ClientSettings
from authbridge.provider.errors import OAuthError
from authbridge.provider.secrets import digest, new_value
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from tests.conftest import make_settings

TRIALS = 20
REDIRECT = "https://rp.example/callback"


def _provider(storage: Storage) -> OpenIDProvider:
    settings = make_settings(str(storage.db.engine.url.render_as_string(hide_password=False)))
    settings = settings.model_copy(
        update={
            "clients": {
                "webapp": ClientSettings(
                    secret="s" * 40,
                    redirect_uris=[REDIRECT],
                    grant_types=["authorization_code", "refresh_token"],
                )
            }
        }
    )
    keyring = keyring_for(settings, storage.keys)
    keyring.ensure_key()
    return OpenIDProvider(storage, keyring, issuer_for(settings, keyring), settings)


def _new_code(provider: OpenIDProvider, user_id: str) -> str:
    code = new_value()
    provider.store.add_code(
        digest(code),
        client_id="webapp",
        user_id=user_id,
        redirect_uri=REDIRECT,
        scope="openid",
        nonce=None,
        code_challenge=None,
        auth_time=int(utcnow().timestamp()),
        expires_at=utcnow() + timedelta(minutes=10),
    )
    return code


def test_a_concurrent_replay_revokes_what_the_first_redemption_issued(
    storage: Storage,
) -> None:
    provider = _provider(storage)
    client = provider.registry.get("webapp")
    assert client is not None
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    for _ in range(TRIALS):
        code = _new_code(provider, user.id)
        barrier = threading.Barrier(2)
        issued: list[dict[str, Any]] = []
        refused: list[OAuthError] = []

        def redeem(
            code: str = code,
            barrier: threading.Barrier = barrier,
            issued: list[dict[str, Any]] = issued,
            refused: list[OAuthError] = refused,
        ) -> None:
            barrier.wait()
            try:
                form = {"code": code, "redirect_uri": REDIRECT}
                issued.append(provider.grants.authorization_code(client, form))
            except OAuthError as failure:
                refused.append(failure)

        threads = [threading.Thread(target=redeem) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(issued) <= 1 and refused
        assert all(exc.error == "invalid_grant" for exc in refused)
        for body in issued:
            # Whatever the winner handed out no longer works.
            assert provider.access_claims(body["access_token"]) is None
            found = provider.store.refresh_token(digest(body["refresh_token"]))
            assert found is not None and found[1] is False


def test_a_sequential_replay_still_revokes(storage: Storage) -> None:
    provider = _provider(storage)
    client = provider.registry.get("webapp")
    assert client is not None
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    code = _new_code(provider, user.id)
    body = provider.grants.authorization_code(client, {"code": code, "redirect_uri": REDIRECT})
    assert provider.access_claims(body["access_token"]) is not None
    try:
        provider.grants.authorization_code(client, {"code": code, "redirect_uri": REDIRECT})
    except OAuthError as exc:
        assert exc.error == "invalid_grant"
    else:
        raise AssertionError("a replayed code was accepted")
    assert provider.access_claims(body["access_token"]) is None
