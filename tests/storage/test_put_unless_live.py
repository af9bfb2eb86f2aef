"""`KeyValueStore.put_unless_live`: of racing writers one wins, a live value stays, an
expired (or never-expiring) one is replaced — on both backends (the setup link relies on it)."""

from __future__ import annotations

from datetime import timedelta

from authbridge.clock import utcnow
from authbridge.storage import Storage


def test_put_unless_live_keeps_a_live_value_and_replaces_a_lapsed_one(storage: Storage) -> None:
    values = storage.values
    now = utcnow()
    later = now + timedelta(hours=1)
    assert values.put_unless_live("link", "first", expires_at=later, now=now)
    assert not values.put_unless_live("link", "second", expires_at=later, now=now)
    assert values.get("link", now=now) == "first"
    assert values.expires_at("link") == later
    # Past its expiry the next writer takes the name.
    after = later + timedelta(seconds=1)
    assert values.put_unless_live("link", "third", expires_at=after + timedelta(hours=1), now=after)
    assert values.get("link", now=after) == "third"
    # A value stored without expiry (an older version's) is replaced too.
    values.put("legacy", "old")
    assert values.put_unless_live("legacy", "new", expires_at=later, now=now)
    assert values.get("legacy", now=now) == "new"
