"""The provider's store on every backend (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import datetime, timedelta

from authbridge.clock import utcnow
from authbridge.provider.secrets import digest
from authbridge.storage import Storage
from authbridge.storage.provider_store import ProviderStore, RefreshRow
from authbridge.storage.teams import TeamRef


def _family(storage: Storage, store: ProviderStore, token: str = "t0") -> RefreshRow:
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    storage.bindings.add("editor", user_id=user.id, scope="workspace:ws1", origin="test")
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
    assert outcome.subject.grants.bindings == (("viewer", "system"), ("editor", "workspace:ws1"))
    assert outcome.subject.username == "ada@example.com"
    assert outcome.row is not None and outcome.row.family_id == row.family_id
    assert outcome.row.idle_expires_at <= row.family_expires_at
    assert store.refresh_token(digest("t1"))[1] is True
    assert store.refresh_token(digest("t0"))[1] is False


def test_a_rotation_and_a_subject_read_carry_team_bindings_and_teams(storage: Storage) -> None:
    """What roles are made of, read with the user (one statement on PostgreSQL): a direct
    binding, a team's binding, the team itself; every backend answers the same."""
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    team_id = storage.teams.add_member(TeamRef.own("scim:okta", "Data Eng"), row.user_id)
    storage.bindings.add("admin", team_id=team_id, scope="workspace:ws2", origin="test")
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 3600, client_id="c")
    subject = store.subject(row.user_id)
    assert outcome.subject == subject and subject is not None
    assert set(subject.grants.bindings) == {
        ("viewer", "system"),
        ("editor", "workspace:ws1"),
        ("admin", "workspace:ws2"),
    }
    assert [(t.id, t.name, t.managed_by) for t in subject.grants.teams] == [
        (team_id, "Data Eng", "scim:okta")
    ]
    assert subject.active and not subject.email_verified and subject.kind == "person"
    assert store.subject("no-such-user") is None


def test_a_disabled_users_refresh_ends_its_family(storage: Storage) -> None:
    """A refresh for a user disabled since sign-in issues nothing, and the family (with
    any successor a rotation wrote) is revoked: a later token of it is refused too."""
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    storage.users.set_active(row.user_id, False)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 3600, client_id="c")
    assert outcome.problem == "inactive" and outcome.subject is None
    assert store.refresh_token(digest("t0"))[1] is False
    successor = store.refresh_token(digest("t1"))
    assert successor is None or successor[1] is False
    storage.users.set_active(row.user_id, True)
    again = store.rotate_refresh(digest("t1"), digest("t2"), utcnow(), 3600, client_id="c")
    assert again.problem in ("revoked", "unknown")


def test_a_revoked_family_refuses_its_unused_token(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    store.revoke_family(row.family_id)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 3600, client_id="c")
    assert outcome.problem == "revoked"
    assert store.refresh_token(digest("t1")) is None


def test_a_family_past_its_absolute_lifetime_is_refused_and_revoked(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    late = row.family_expires_at + timedelta(seconds=1)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), late, 3600, client_id="c")
    assert outcome.problem == "expired"
    assert store.refresh_token(digest("t1")) is None
    assert store.refresh_token(digest("t0"))[1] is False


def test_a_successors_idle_expiry_never_passes_the_familys_end(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    now = utcnow()
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), now, 30 * 86400, client_id="c")
    assert outcome.row is not None
    assert outcome.row.idle_expires_at == row.family_expires_at
    short = store.rotate_refresh(digest("t1"), digest("t2"), now, 60, client_id="c")
    assert short.row is not None
    assert abs((short.row.idle_expires_at - now).total_seconds() - 60) < 1


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


def _code(store: ProviderStore, code_hash: str, user_id: str, expires: datetime) -> None:
    store.add_code(
        code_hash,
        client_id="c",
        user_id=user_id,
        redirect_uri="https://x/cb",
        scope="openid",
        nonce=None,
        code_challenge=None,
        auth_time=0,
        expires_at=expires,
    )


def test_garbage_collect_removes_only_what_can_no_longer_be_used(storage: Storage) -> None:
    """After Dex's storage conformance `testGC`: expired codes, device codes, revoked jtis
    past their token's expiry, and ended refresh families go; everything live stays."""
    store = ProviderStore(storage.db)
    user = storage.users.create(username="ada@example.com")
    now = utcnow()
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    _code(store, "old-code", user.id, past)
    _code(store, "live-code", user.id, future)
    for name, expires in (("old-dev", past), ("live-dev", future)):
        store.add_device(
            name, user_code=name.upper(), client_id="c", scope="", expires_at=expires, interval=5
        )
    store.revoke_jti("old-jti", past)
    store.revoke_jti("live-jti", future)

    def family(name: str, family_expires: datetime, idle: datetime) -> None:
        store.add_refresh(
            digest(name), RefreshRow(name, "c", user.id, "openid", 0, family_expires, idle)
        )

    family("ended", past, past)  # absolute lifetime over
    family("idle", future, past)  # its only token idled out
    family("live", future, future)
    # A used token of a live family stays (its replay must still revoke the family).
    assert store.rotate_refresh(digest("live"), digest("live-2"), now, 3600, client_id="c").row

    assert store.garbage_collect(now) == 5
    assert store.garbage_collect(now) == 0
    assert store.redeem_code("old-code", now) is None
    assert store.redeem_code("live-code", now) is not None
    assert store.device_by_user_code("OLD-DEV") is None
    assert store.device_by_user_code("LIVE-DEV") is not None
    assert not store.jti_revoked("old-jti") and store.jti_revoked("live-jti")
    assert store.refresh_token(digest("ended")) is None
    assert store.refresh_token(digest("idle")) is None
    assert store.refresh_token(digest("live")) is not None
    assert store.refresh_token(digest("live-2")) is not None


def test_garbage_collect_works_in_bounded_batches(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    user = storage.users.create(username="ada@example.com")
    now = utcnow()
    for index in range(7):
        _code(store, f"c{index}", user.id, now - timedelta(seconds=1))
    assert store.garbage_collect(now, batch=3) == 3
    assert store.garbage_collect(now, batch=3) == 3
    assert store.garbage_collect(now, batch=3) == 1  # fewer than a batch: done


def test_revoke_user_revokes_refresh_families_and_tracked_access_tokens(
    storage: Storage,
) -> None:
    store = ProviderStore(storage.db)
    row = _family(storage, store)
    other = storage.users.create(username="bob@example.com")
    now = utcnow()
    _code(store, "code", row.user_id, now + timedelta(minutes=5))
    store.redeem_code("code", now)
    assert not store.record_code_issue("code", "fam", "code-jti", now + timedelta(hours=1))
    store.add_robot_token("robot-jti", row.user_id, "", now + timedelta(days=1))
    store.add_robot_token("bob-jti", other.id, "", now + timedelta(days=1))

    assert store.revoke_user(row.user_id, now) == 3
    assert store.refresh_token(digest("t0"))[1] is False
    assert store.jti_revoked("code-jti") and store.jti_revoked("robot-jti")
    assert not store.jti_revoked("bob-jti")
    assert store.revoke_user(row.user_id, now) == 0  # nothing left to revoke
