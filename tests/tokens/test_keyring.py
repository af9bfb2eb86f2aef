"""Key rotation keeps a key published until the last token it signed expires, whatever
lifetime that token had (issue 10, defect 1), on every replica."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authbridge.config import load_settings
from authbridge.config.errors import ConfigError
from authbridge.storage import Storage
from authbridge.tokens import KeyRing, TokenIssuer
from tests.tokens.test_issuer import ADA, ISSUER, Clock, verify


def _ring(storage: Storage, clock: Clock) -> tuple[KeyRing, TokenIssuer]:
    # The repro's settings: tokens.accessTokenLifetime 60, keyPublishAhead 5.
    ring = KeyRing(
        storage.keys,
        algorithm="ES256",
        publish_ahead=timedelta(seconds=5),
        max_token_lifetime=timedelta(seconds=60),
        clock=clock,
        reload_interval=timedelta(seconds=5),
    )
    ring.ensure_key()
    issuer = TokenIssuer(
        ring, issuer=ISSUER, access_token_lifetime=60, id_token_lifetime=60, clock=clock
    )
    return ring, issuer


def _published(ring: KeyRing) -> set[str]:
    return {key["kid"] for key in json.loads(ring.current().jwks)["keys"]}


def test_a_key_stays_published_while_a_longer_lived_token_it_signed_is_valid(
    storage: Storage,
) -> None:
    clock = Clock()
    ring, issuer = _ring(storage, clock)
    replica, _ = _ring(storage, clock)  # another replica over the same database
    # A service account's token (`service-accounts add sa --lifetime 1h`).
    token = issuer.access_token(ADA, audience=["p"], client_id="sa-sa", lifetime=3600)
    old_kid = ring.current().signing.kid
    ring.rotate()
    clock.now += timedelta(seconds=100)  # past publish-ahead + the global 60 s lifetime
    assert old_kid in _published(ring)
    assert old_kid in _published(replica)
    verify(ring, token.token, "p")
    clock.now += timedelta(seconds=3500)  # the token expires now, give or take the step
    assert old_kid in _published(replica)
    clock.now += timedelta(minutes=2)
    assert old_kid not in _published(ring)
    assert old_kid not in _published(replica)


def test_recording_costs_one_write_per_step_not_per_token(storage: Storage) -> None:
    clock = Clock()
    _, issuer = _ring(storage, clock)
    writes: list[str] = []
    original = storage.keys.extend_signed_until

    def counting(kid: str, until: object) -> None:
        writes.append(kid)
        original(kid, until)  # type: ignore[arg-type]

    storage.keys.extend_signed_until = counting  # type: ignore[method-assign]
    for _ in range(50):
        issuer.access_token(ADA, audience=["p"], client_id="c")
    assert len(writes) == 1


@pytest.mark.parametrize(("ahead", "ok"), [("5", False), ("29", False), ("30", True)])
def test_config_refuses_publish_ahead_shorter_than_the_reload_interval(
    ahead: str, ok: bool
) -> None:
    env = {"TOKENS__KEY_PUBLISH_AHEAD": ahead, "TOKENS__KEY_RELOAD_INTERVAL": "30"}
    if ok:
        assert load_settings(None, env).tokens.key_publish_ahead == int(ahead)
        return
    with pytest.raises(ConfigError) as raised:
        load_settings(None, env)
    assert "keyPublishAhead" in str(raised.value) and "keyReloadInterval" in str(raised.value)


def test_fresh_is_the_snapshot_in_force_and_never_reads_storage(storage: Storage) -> None:
    # What the event loop serves inline (web/wellknown.PublicDocuments): a snapshot due for
    # reload, or none yet, is None (the caller then goes through `current()`, off the loop).
    clock = Clock()
    ring, _ = _ring(storage, clock)
    snapshot = ring.current()
    assert ring.fresh() is snapshot
    ring.invalidate()
    assert ring.fresh() is None
    assert ring.current() is ring.fresh()
    clock.now += timedelta(seconds=6)  # past the 5 s reload interval
    assert ring.fresh() is None
    reloaded = ring.current()
    assert ring.fresh() is reloaded
