"""Sessions per user are capped (`sessions.maxPerUser`): a new sign-in ends the oldest ones,
in the transaction that starts it. Runs on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _start(storage: Storage, user_id: str, name: str, at: datetime, cap: int | None) -> None:
    storage.sessions.create(
        id_hash=name.ljust(64, "0"),
        user_id=user_id,
        auth_method="local",
        now=at,
        expires_at=at + timedelta(hours=1),
        max_per_user=cap,
    )


def _alive(storage: Storage, *names: str) -> set[str]:
    return {n for n in names if storage.sessions.get(n.ljust(64, "0")) is not None}


def test_a_new_sign_in_beyond_the_cap_ends_the_oldest_sessions(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    bob = storage.users.create(username="bob")
    names = [f"a{i}" for i in range(5)]
    for i, name in enumerate(names):
        _start(storage, ada.id, name, NOW + timedelta(seconds=i), cap=None)
    _start(storage, bob.id, "b0", NOW, cap=None)

    _start(storage, ada.id, "a5", NOW + timedelta(seconds=10), cap=3)
    assert _alive(storage, *names, "a5") == {"a3", "a4", "a5"}
    assert _alive(storage, "b0") == {"b0"}  # another user's sessions are not counted


def test_sign_ins_in_one_clock_tick_never_evict_the_new_session(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    for i in range(6):
        _start(storage, ada.id, f"t{i}", NOW, cap=2)  # same created_at every time
        assert f"t{i}" in _alive(storage, f"t{i}")
    assert len(_alive(storage, *(f"t{i}" for i in range(6)))) == 2


def test_a_cap_of_one_keeps_only_the_latest(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    _start(storage, ada.id, "x1", NOW, cap=1)
    _start(storage, ada.id, "x2", NOW + timedelta(seconds=1), cap=1)
    assert _alive(storage, "x1", "x2") == {"x2"}
