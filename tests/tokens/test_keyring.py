"""Key rotation keeps a key published until the last token it signed expires, whatever
lifetime that token had (issue 10, defect 1), on every replica."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import jwt
import pytest

from authbridge.config import load_settings
from authbridge.config.errors import ConfigError
from authbridge.storage import KeyStore, Storage
from authbridge.storage.models import SigningKey
from authbridge.tokens import KeyRing, TokenIssuer
from authbridge.tokens.keys import generate
from tests.tokens.test_issuer import ADA, ISSUER, Clock, verify


def _ring(
    storage: Storage, clock: Clock, store: KeyStore | None = None
) -> tuple[KeyRing, TokenIssuer]:
    # The repro's settings: tokens.accessTokenLifetime 60, keyPublishAhead 5.
    ring = KeyRing(
        store or storage.keys,
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


class _ReadBeforeTheOtherCommitted(KeyStore):
    """A replica's view of the key table whose first read came just before another
    replica, started at the same instant, committed the first key (both saw none)."""

    def __init__(self, store: KeyStore) -> None:
        super().__init__(store._db)
        self._stale = True

    def all(self) -> list[SigningKey]:
        if self._stale:
            self._stale = False
            return []
        return super().all()


def test_replicas_starting_together_on_an_empty_database_share_one_first_key(
    storage: Storage,
) -> None:
    # Two first keys, each signing at once on the replica that made it, while the other
    # replica's snapshot (loaded before that key existed) did not publish it for a reload
    # interval: a refresh answered by one replica gave access tokens the other refused at
    # userinfo (401 invalid_token), and clients that fetched that replica's JWKS refused
    # them too. Of replicas racing on an empty table exactly one adds a key.
    clock = Clock()
    first, _ = _ring(storage, clock)
    _, second_issuer = _ring(storage, clock, _ReadBeforeTheOtherCommitted(storage.keys))
    token = second_issuer.access_token(ADA, audience=["p"], client_id="c")
    kid = jwt.get_unverified_header(token.token)["kid"]
    assert kid in _published(first), "the first replica does not publish the key it signed"
    assert verify(first, token.token, "p")["sub"] == ADA.subject
    assert [key.kid for key in storage.keys.all()] == [kid]


def test_the_first_key_is_added_once(storage: Storage) -> None:
    clock = Clock()
    ring, _ = _ring(storage, clock)
    stored = storage.keys.all()
    again = ring._row(generate("ES256"), signs_from=clock())
    assert storage.keys.add_first(again) is False
    assert [key.kid for key in storage.keys.all()] == [key.kid for key in stored]


# A replica up to its first key: connected to the migrated database, then (released with
# the others) ensure_key, and the kid it signs with printed.
_REPLICA = textwrap.dedent(
    """
    import sys
    from datetime import timedelta
    from authbridge.storage import Storage
    from authbridge.tokens import KeyRing
    storage = Storage.open(sys.argv[1], migrate=False)
    ring = KeyRing(
        storage.keys,
        algorithm="ES256",
        publish_ahead=timedelta(seconds=30),
        max_token_lifetime=timedelta(hours=1),
    )
    storage.keys.all()
    print("ready", flush=True)
    sys.stdin.readline()
    ring.ensure_key()
    print(ring.current().signing.kid, flush=True)
    storage.db.dispose()
    """
)


def test_three_replica_processes_released_together_sign_with_one_key(storage: Storage) -> None:
    # Processes, released at once when every one is connected (imports take seconds on a
    # loaded machine, so no agreed clock time): the race of `authbridge serve` replicas.
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, storage.db.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for replica in replicas:
            assert replica.stdout is not None and replica.stdout.readline() == "ready\n"
        for replica in replicas:
            assert replica.stdin is not None
            replica.stdin.write("go\n")
            replica.stdin.flush()
        signing = set()
        for replica in replicas:
            out, err = replica.communicate(timeout=120)
            assert replica.returncode == 0, err[-3000:]
            signing.add(out.strip())
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
    assert len(signing) == 1, f"replicas sign with {len(signing)} different first keys"
    assert [key.kid for key in storage.keys.all()] == list(signing)
