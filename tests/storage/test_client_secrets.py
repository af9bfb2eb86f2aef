"""Storage owns a rotated-out client secret's expiry: the previous digest moves over in the
rotation's one UPDATE, reads refuse it past its expiry, and garbage collection clears it
(the client stays). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.provider_store import ClientRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_rotation_keeps_the_replaced_digest_until_its_expiry(storage: Storage) -> None:
    store = storage.provider
    store.add_client(ClientRow("c", secret_hash="a" * 64))
    assert store.set_client_secret("c", "b" * 64, NOW + timedelta(hours=1))
    row = store.client("c")
    assert row is not None
    assert (row.secret_hash, row.previous_secret_hash) == ("b" * 64, "a" * 64)
    assert row.previous_secret_expires_at == NOW + timedelta(hours=1)
    assert row.previous_secret_live(NOW) == "a" * 64
    assert row.previous_secret_live(NOW + timedelta(hours=1)) is None  # read as absent
    # A second rotation: only the secret it replaced stays valid, never the first one.
    assert store.set_client_secret("c", "c" * 64, NOW + timedelta(hours=2))
    row = store.client("c")
    assert row is not None and row.previous_secret_hash == "b" * 64
    # Without an expiry the replaced secret is dropped at once.
    assert store.set_client_secret("c", "d" * 64)
    row = store.client("c")
    assert row is not None and row.previous_secret_hash is None
    assert row.previous_secret_expires_at is None
    assert not store.set_client_secret("nobody", "e" * 64)
    store.add_client(ClientRow("spa", public=True))
    assert not store.set_client_secret("spa", "e" * 64)  # a public client has no secret


def test_gc_clears_exactly_the_expired_previous_secrets(storage: Storage) -> None:
    store = storage.provider
    for client_id, expires in (("old", NOW - timedelta(seconds=1)), ("live", NOW + timedelta(1))):
        store.add_client(ClientRow(client_id, secret_hash="a" * 64))
        store.set_client_secret(client_id, "b" * 64, expires)
    assert "provider" in storage.expiring()
    assert store.garbage_collect(NOW) == 1
    old, live = store.client("old"), store.client("live")
    assert old is not None and old.secret_hash == "b" * 64  # the client and its secret stay
    assert old.previous_secret_hash is None and old.previous_secret_expires_at is None
    assert live is not None and live.previous_secret_hash == "a" * 64
    assert store.garbage_collect(NOW) == 0
