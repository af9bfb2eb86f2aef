"""Housekeeping: every store's garbage collection, in bounded batches, each store on its own,
on one replica at a time (an advisory-lock lease on PostgreSQL), rows deleted counted."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from authbridge.storage import Storage
from authbridge.storage.database import Database
from authbridge.storage.mfa_models import TotpCredential
from authbridge.web.observability import Metrics
from authbridge.web.services import HOUSEKEEPING_LEASE, housekeeping, housekeeping_round

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Broken:
    def garbage_collect(self, now: datetime, batch: int = 1000) -> int:
        raise RuntimeError("database went away")


def test_every_expiring_store_is_collected(storage: Storage) -> None:
    user = storage.users.create(username="hk")
    for i in range(3):
        storage.sessions.create(
            id_hash=f"{i}" * 64,
            user_id=user.id,
            auth_method="local",
            now=NOW - timedelta(hours=2),
            expires_at=NOW - timedelta(hours=1),
        )
    storage.rate_limits.hit(
        "sign-in", now=NOW - timedelta(minutes=20), window=timedelta(minutes=15)
    )
    storage.rate_limits.hit("device", now=NOW - timedelta(minutes=20), window=timedelta(hours=1))
    storage.values.put("oauth-login:x", "{}", expires_at=NOW - timedelta(minutes=1))
    storage.values.put("csrf_secret_key", "k")
    with storage.db.session() as session:  # an older version's enrolment, never confirmed
        session.add(TotpCredential(user_id=user.id, secret="s", created_at=NOW - timedelta(days=2)))
    for code, lapse in (("lapsed", -timedelta(minutes=1)), ("live", timedelta(minutes=5))):
        storage.provider.add_code(
            code,
            client_id="c",
            user_id=user.id,
            redirect_uri="https://x/cb",
            scope="openid",
            nonce=None,
            code_challenge=None,
            auth_time=0,
            expires_at=NOW + lapse,
        )
    assert set(storage.expiring()) == {
        "sessions",
        "rate_limits",
        "values",
        "provider",
        "revocation_feed",
        "audit",
        "scim_credentials",
        "invitations",
        "mfa",
    }
    deleted = housekeeping(storage.expiring(), NOW)
    assert deleted == {
        "sessions": 3,
        "rate_limits": 1,
        "values": 1,
        "provider": 1,
        "revocation_feed": 0,
        "audit": 0,
        "scim_credentials": 0,
        "invitations": 0,
        "mfa": 1,
    }
    assert storage.provider.redeem_code("live", NOW) is not None
    assert storage.values.get("csrf_secret_key") == "k"
    assert storage.rate_limits.count("device", now=NOW, window=timedelta(hours=1)) == 1


def test_a_failing_store_does_not_stop_the_others(storage: Storage) -> None:
    storage.values.put("lapsed", "v", expires_at=NOW - timedelta(seconds=1))
    deleted = housekeeping({"broken": Broken(), "values": storage.values}, NOW)
    assert deleted == {"values": 1}


class Slow:
    """A store whose collection takes a while and notes how many rounds overlap."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.rounds = 0
        self.guard = threading.Lock()

    def garbage_collect(self, now: datetime, batch: int = 1000) -> int:
        with self.guard:
            self.running += 1
            self.rounds += 1
            self.most = max(self.most, self.running)
        time.sleep(0.5)
        with self.guard:
            self.running -= 1
        return 0


@pytest.mark.postgres
def test_one_housekeeper_at_a_time_on_postgres(postgres_server_url: str) -> None:
    # Two replicas: two engines (two pools, two server sessions) on one database.
    replicas = [Database(postgres_server_url, pool_size=2) for _ in range(2)]
    slow = Slow()
    go = threading.Barrier(2)

    def replica_round(db: Database) -> dict[str, int] | None:
        go.wait()
        return housekeeping_round(db, {"slow": slow}, NOW, Metrics())

    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(replica_round, replicas))
        assert sorted(result is None for result in results) == [False, True]
        assert (slow.rounds, slow.most) == (1, 1)
        # The lease is released with the round: the next round runs on either replica.
        assert housekeeping_round(replicas[1], {"slow": slow}, NOW, Metrics()) == {"slow": 0}
        with replicas[0].lease(HOUSEKEEPING_LEASE) as held:
            assert held
            with replicas[1].lease(HOUSEKEEPING_LEASE) as other:
                assert not other
    finally:
        for db in replicas:
            db.dispose()


def test_rows_deleted_are_counted_per_store(storage: Storage) -> None:
    storage.values.put("lapsed-1", "v", expires_at=NOW - timedelta(seconds=1))
    storage.values.put("lapsed-2", "v", expires_at=NOW - timedelta(seconds=1))
    metrics = Metrics()
    assert housekeeping_round(storage.db, storage.expiring(), NOW, metrics) == {
        "sessions": 0,
        "rate_limits": 0,
        "values": 2,
        "provider": 0,
        "revocation_feed": 0,
        "audit": 0,
        "scim_credentials": 0,
        "invitations": 0,
        "mfa": 0,
    }
    exposed = generate_latest(metrics.registry).decode()
    assert 'authbridge_housekeeping_deleted_rows_total{store="values"} 2.0' in exposed
    assert 'authbridge_housekeeping_deleted_rows_total{store="sessions"} 0.0' in exposed
