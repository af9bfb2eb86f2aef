"""The provider's store on every backend (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import timedelta

from authbridge.provider.secrets import digest
from authbridge.provider.store import ProviderStore, RefreshRow
from authbridge.storage import Storage
from authbridge.storage.models import utcnow


def _family(storage: Storage, store: ProviderStore, token: str = "t0") -> RefreshRow:
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    storage.users.grant_role(user.id, "editor")
    now = utcnow()
    row = RefreshRow(
        "fam", "c", user.id, "openid", 0, now + timedelta(days=1), now + timedelta(hours=1)
    )
    store.add_refresh(digest(token), row)
    return row


def test_rotation_reads_user_and_roles_in_one_go(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 3600, client_id="c")
    assert outcome.problem is None and outcome.subject is not None
    assert outcome.subject.roles == ("editor", "viewer")
    assert outcome.subject.username == "ada@example.com"
    assert outcome.row is not None and outcome.row.family_id == row.family_id
    assert outcome.row.idle_expires_at <= row.family_expires_at
    assert store.refresh_token(digest("t1"))[1] is True
    assert store.refresh_token(digest("t0"))[1] is False


def test_reuse_revokes_the_family(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    _family(storage, store)
    store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 3600, client_id="c")
    again = store.rotate_refresh(digest("t0"), digest("t2"), utcnow(), 3600, client_id="c")
    assert again.problem == "reused"
    assert store.refresh_token(digest("t1"))[1] is False
    assert store.refresh_token(digest("t2")) is None


def test_other_client_scope_and_expiry_do_not_consume(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    _family(storage, store)
    now = utcnow()
    assert (
        store.rotate_refresh(digest("t0"), digest("x"), now, 60, client_id="other").problem
        == "other client"
    )
    assert (
        store.rotate_refresh(
            digest("t0"), digest("x"), now, 60, client_id="c", scope="openid email"
        ).problem
        == "scope"
    )
    assert store.refresh_token(digest("t0"))[1] is True
    late = store.rotate_refresh(
        digest("t0"), digest("x"), now + timedelta(hours=2), 60, client_id="c"
    )
    assert late.problem == "expired"


def test_code_redeemed_once(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    user = storage.users.create(username="ada@example.com")
    now = utcnow()
    store.add_code(
        "h",
        client_id="c",
        user_id=user.id,
        redirect_uri="https://x/cb",
        scope="openid",
        nonce=None,
        code_challenge=None,
        auth_time=0,
        expires_at=now + timedelta(minutes=10),
    )
    assert store.redeem_code("h", now).first_use is True
    assert store.redeem_code("h", now).first_use is False
    assert store.redeem_code("nope", now) is None


def test_device_code_consumed_by_one_poll(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    user = storage.users.create(username="ada@example.com")
    now = utcnow()
    assert store.add_device(
        "d",
        user_code="BCDF-GHJK",
        client_id="c",
        scope="",
        expires_at=now + timedelta(minutes=10),
        interval=5,
    )
    assert not store.add_device(
        "d2",
        user_code="BCDF-GHJK",
        client_id="c",
        scope="",
        expires_at=now + timedelta(minutes=10),
        interval=5,
    )
    assert store.decide_device("BCDF-GHJK", approve=True, user_id=user.id, auth_time=1, now=now)
    assert store.poll_device("d", now).status == "approved"
    assert store.poll_device("d", now).status == "consumed"


def test_revoking_a_user_revokes_their_refresh_tokens(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    assert store.revoke_user_refresh(row.user_id) >= 1
    assert store.refresh_token(digest("t0"))[1] is False


def test_racing_uses_of_one_token_let_exactly_one_win(storage: Storage) -> None:
    """Two requests presenting the same token at once: one rotation, then the family dies
    (the loser is a reuse: RFC 9700 §4.14.2 cannot tell which holder is the attacker)."""
    import threading

    store = ProviderStore(storage.db)
    _family(storage, store)
    outcomes = []
    barrier = threading.Barrier(2)

    def use(successor: str) -> None:
        barrier.wait()
        outcomes.append(
            store.rotate_refresh(
                digest("t0"), digest(successor), utcnow(), 3600, client_id="c"
            ).problem
        )

    threads = [threading.Thread(target=use, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)) == ["None", "reused"]
    assert all(
        store.refresh_token(digest(name)) is None or not store.refresh_token(digest(name))[1]
        for name in ("a", "b")
    )


def test_two_stores_on_one_sqlite_file_share_a_writer_lock(sqlite_url: str) -> None:
    """Worker processes each have a store; on SQLite they queue on one lock file."""
    import os
    import stat

    storage = Storage.open(sqlite_url)
    first, second = ProviderStore(storage.db), ProviderStore(storage.db)
    _family(storage, first)
    assert (
        first.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 60, client_id="c").problem
        is None
    )
    assert (
        second.rotate_refresh(digest("t0"), digest("t2"), utcnow(), 60, client_id="c").problem
        == "reused"
    )
    lock = sqlite_url.removeprefix("sqlite:///") + ".provider-lock"
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
    storage.db.dispose()
