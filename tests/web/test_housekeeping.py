"""Housekeeping: every store's garbage collection, in bounded batches, each store on its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.web.services import housekeeping

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
    assert set(storage.expiring()) == {"sessions", "rate_limits", "values"}
    deleted = housekeeping(storage.expiring(), NOW)
    assert deleted == {"sessions": 3, "rate_limits": 1, "values": 1}
    assert storage.values.get("csrf_secret_key") == "k"
    assert storage.rate_limits.count("device", now=NOW, window=timedelta(hours=1)) == 1


def test_a_failing_store_does_not_stop_the_others(storage: Storage) -> None:
    storage.values.put("lapsed", "v", expires_at=NOW - timedelta(seconds=1))
    deleted = housekeeping({"broken": Broken(), "values": storage.values}, NOW)
    assert deleted == {"values": 1}
