"""A user's own sessions as the account page reads and ends them: live ones only, most
recently seen first, and ended only by their owner. Runs on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _start(storage: Storage, user_id: str, name: str, seen: datetime, hours: int = 1) -> str:
    id_hash = name.ljust(64, "0")
    storage.sessions.create(
        id_hash=id_hash,
        user_id=user_id,
        auth_method="local",
        now=NOW,
        expires_at=NOW + timedelta(hours=hours),
        user_agent=f"agent {name}",
    )
    storage.sessions.touch(id_hash, seen)
    return id_hash


def test_of_user_lists_live_sessions_most_recent_first(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    bob = storage.users.create(username="bob")
    older = _start(storage, ada.id, "a1", NOW + timedelta(minutes=1))
    newer = _start(storage, ada.id, "a2", NOW + timedelta(minutes=5))
    _start(storage, ada.id, "a3", NOW, hours=0)  # expired at creation
    _start(storage, bob.id, "b1", NOW + timedelta(minutes=9))
    listed = storage.sessions.of_user(ada.id, NOW + timedelta(minutes=10))
    assert [s.id_hash for s in listed] == [newer, older]
    assert listed[0].user_agent == "agent a2"


def test_delete_of_user_ends_only_the_owners_session(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    bob = storage.users.create(username="bob")
    bobs = _start(storage, bob.id, "b1", NOW)
    assert storage.sessions.delete_of_user(ada.id, bobs) is False
    assert storage.sessions.get(bobs) is not None
    assert storage.sessions.delete_of_user(bob.id, bobs) is True
    assert storage.sessions.get(bobs) is None
    assert storage.sessions.delete_of_user(bob.id, bobs) is False
