"""The storage contract: every backend (SQLite, PostgreSQL) must pass the same tests."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import inspect

from authbridge.clock import utcnow
from authbridge.storage import Conflict, Storage
from authbridge.storage.models import SigningKey
from tests.storage.rows import NOW, start_session
from tests.wiring import system_roles


def test_migrations_create_schema_and_seed_system_roles(storage: Storage) -> None:
    tables = set(inspect(storage.db.engine).get_table_names())
    assert {"users", "identities", "role_bindings", "browser_sessions", "signing_keys"} <= tables
    assert not {"roles", "user_roles", "team_roles"} & tables  # one source of truth
    storage.db.upgrade()  # idempotent
    user = storage.users.create(username="a@example.com", roles=["admin", "viewer"])
    assert system_roles(storage, user.id) == ["admin", "viewer"]


def test_usernames_are_unique_case_insensitively(storage: Storage) -> None:
    storage.users.create(username="Ada@Example.com")
    with pytest.raises(Conflict):
        storage.users.create(username="ada@example.COM")
    found = storage.users.by_username("ADA@EXAMPLE.COM")
    assert found is not None and found.username == "Ada@Example.com"
    assert storage.users.count() == 1


def test_a_user_found_by_username_is_the_stored_row_not_a_new_one(storage: Storage) -> None:
    created = storage.users.create(username="lin@example.com", email="lin@example.com", name="Lin")
    found = storage.users.by_username("lin@example.com")
    assert found is not None
    assert (found.id, found.email, found.name, found.active) == (
        created.id,
        "lin@example.com",
        "Lin",
        True,
    )
    assert found.created_at.tzinfo is not None  # column types applied, as through the ORM
    # Handed back to a session it is the persistent row: a change updates, never inserts.
    with storage.db.session() as session:
        session.add(found)
        found.name = "Lin Y."
    assert storage.users.count() == 1
    again = storage.users.get(created.id)
    assert again is not None and again.name == "Lin Y."


def test_failed_create_leaves_nothing_behind(storage: Storage) -> None:
    from authbridge.storage.users import IdentityLink

    storage.users.create(username="first", identity=IdentityLink("okta", "sub-1"))
    with pytest.raises(Conflict):  # the identity is taken: the user and its roles go too
        storage.users.create(
            username="half@example.com", roles=["viewer"], identity=IdentityLink("okta", "sub-1")
        )
    assert storage.users.by_username("half@example.com") is None
    assert storage.bindings.count() == 0


def test_identity_is_keyed_by_connector_and_subject(storage: Storage) -> None:
    one = storage.users.create(username="one")
    two = storage.users.create(username="two")
    storage.users.link_identity(one.id, "okta", "sub-1", email="x@example.com")
    with pytest.raises(Conflict):
        storage.users.link_identity(two.id, "okta", "sub-1")
    storage.users.link_identity(two.id, "google", "sub-1")  # same subject, other IdP
    assert storage.users.by_identity("okta", "sub-1").id == one.id
    assert storage.users.by_identity("google", "sub-1").id == two.id
    assert storage.users.by_identity("okta", "SUB-1") is None  # subjects are case-sensitive


def test_times_round_trip_as_aware_utc(storage: Storage) -> None:
    user = storage.users.create(username="t")
    row = storage.sessions.get(start_session(storage, user.id, "h" * 64))
    assert row is not None
    assert storage.users.get(user.id).last_login_at == NOW  # a session start is the login
    assert row.created_at == NOW and row.created_at.tzinfo is not None
    assert row.expires_at - row.created_at == timedelta(hours=1)


def test_sessions_delete_for_user_and_expired(storage: Storage) -> None:
    user = storage.users.create(username="s")
    for i in range(3):
        start_session(storage, user.id, f"{i}" * 64, NOW + timedelta(minutes=i))
    assert storage.sessions.garbage_collect(NOW + timedelta(seconds=30)) == 1
    assert storage.sessions.delete_for_user(user.id) == 2
    assert storage.sessions.get("1" * 64) is None


def test_deleting_a_user_cascades(storage: Storage) -> None:
    from sqlalchemy import delete

    from authbridge.storage.models import User

    user = storage.users.create(username="gone", roles=["viewer"])
    storage.users.link_identity(user.id, "okta", "s")
    start_session(storage, user.id, "c" * 64, auth_method="x")
    with storage.db.session() as session:
        session.execute(delete(User).where(User.id == user.id))
    assert storage.sessions.get("c" * 64) is None
    assert storage.users.by_identity("okta", "s") is None


def test_rate_limit_counts_in_a_window_and_restarts(storage: Storage) -> None:
    window = timedelta(minutes=15)
    for expected in (1, 2, 3):
        assert storage.rate_limits.hit("k", now=NOW, window=window) == expected
    assert storage.rate_limits.count("k", now=NOW + timedelta(minutes=14), window=window) == 3
    later = NOW + window
    assert storage.rate_limits.count("k", now=later, window=window) == 0
    assert storage.rate_limits.hit("k", now=later, window=window) == 1
    storage.rate_limits.clear("k")
    assert storage.rate_limits.count("k", now=later, window=window) == 0


def test_rate_limit_hits_are_atomic_under_concurrency(storage: Storage) -> None:
    window = timedelta(minutes=15)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(10):
                storage.rate_limits.hit("shared", now=NOW, window=window)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert storage.rate_limits.count("shared", now=NOW, window=window) == 40


def test_key_value_names_longer_than_the_column_are_refused_on_every_backend(
    storage: Storage,
) -> None:
    """PostgreSQL refuses a name over VARCHAR(64), SQLite would store it: the store refuses
    it on both, so a key built too long (a prefix and a hex digest) fails every test run."""
    storage.values.put("n" * 64, "fits")
    assert storage.values.get("n" * 64) == "fits"
    for store in (
        lambda: storage.values.put("n" * 65, "x"),
        lambda: storage.values.put_if_absent("n" * 65, "x"),
        lambda: storage.values.put_unless_live("n" * 65, "x", expires_at=utcnow()),
    ):
        with pytest.raises(ValueError, match="at most 64"):
            store()


def test_key_values_put_if_absent_keeps_the_first(storage: Storage) -> None:
    assert storage.values.put_if_absent("k", "first") == "first"
    assert storage.values.put_if_absent("k", "second") == "first"
    storage.values.put("k", "third")
    assert storage.values.get("k") == "third"
    assert storage.values.delete("k") is True
    assert storage.values.delete("k") is False


def test_signing_keys_retire_once_and_delete(storage: Storage) -> None:
    key = SigningKey(
        kid="k1",
        alg="ES256",
        private_pem="pem",
        public_jwk={"kty": "EC"},
        created_at=NOW,
        signs_from=NOW,
    )
    storage.keys.add(key)
    storage.keys.retire("k1", retired_at=NOW, published_until=NOW + timedelta(hours=1))
    storage.keys.retire(
        "k1", retired_at=NOW + timedelta(days=9), published_until=NOW + timedelta(days=9)
    )  # no effect: retired already
    (row,) = storage.keys.all()
    assert row.published_until == NOW + timedelta(hours=1)
    storage.keys.delete("k1")
    assert storage.keys.all() == []


def test_team_roles_reach_members(storage: Storage) -> None:
    from authbridge.storage.models import Team, TeamMember

    user = storage.users.create(username="member", roles=["viewer"])
    with storage.db.session() as session:
        session.add(Team(id="t1", name="Data Engineers", name_key="data engineers"))
        session.flush()
        session.add(TeamMember(team_id="t1", user_id=user.id))
    storage.bindings.add("editor", team_id="t1", origin="test")
    assert system_roles(storage, user.id) == ["editor", "viewer"]
    assert storage.users.teams(user.id) == ["Data Engineers"]


# Garbage collection, after Dex's storage/conformance testGC: create expired and live rows,
# collect, and check that exactly the expired ones are gone.


def test_gc_deletes_exactly_the_expired_sessions(storage: Storage) -> None:
    user = storage.users.create(username="gc")
    expired = [
        start_session(storage, user.id, f"e{i}", NOW - timedelta(seconds=i + 1)) for i in range(3)
    ]
    live = [
        start_session(storage, user.id, f"l{i}", NOW + timedelta(seconds=i + 1)) for i in range(2)
    ]
    assert storage.sessions.garbage_collect(NOW) == 3
    assert [storage.sessions.get(h) for h in expired] == [None, None, None]
    assert all(storage.sessions.get(h) is not None for h in live)
    assert storage.sessions.garbage_collect(NOW) == 0


def test_gc_of_rate_limits_uses_each_counters_own_window(storage: Storage) -> None:
    limits = storage.rate_limits
    short, long = timedelta(minutes=15), timedelta(hours=1)
    limits.hit("sign-in", now=NOW, window=short)
    limits.hit("device-guess", now=NOW, window=long)
    limits.hit("recent", now=NOW + timedelta(minutes=10), window=short)
    later = NOW + timedelta(minutes=20)
    # Only the 15-minute counter that started at NOW has ended; the hour-long one has not.
    assert limits.garbage_collect(later) == 1
    assert limits.count("device-guess", now=later, window=long) == 1
    assert limits.count("recent", now=later, window=short) == 1
    assert limits.garbage_collect(NOW + timedelta(hours=2)) == 2


def test_a_restarted_window_moves_the_counters_expiry(storage: Storage) -> None:
    window = timedelta(minutes=15)
    storage.rate_limits.hit("k", now=NOW, window=window)
    storage.rate_limits.hit("k", now=NOW + timedelta(minutes=20), window=window)  # new window
    assert storage.rate_limits.garbage_collect(NOW + timedelta(minutes=30)) == 0
    assert storage.rate_limits.garbage_collect(NOW + timedelta(minutes=36)) == 1


def test_gc_drops_counters_written_before_they_had_an_expiry(storage: Storage) -> None:
    from authbridge.storage.models import RateLimitCounter

    with storage.db.session() as session:
        session.add(RateLimitCounter(key="legacy-old", window_start=NOW - timedelta(days=2)))
        session.add(RateLimitCounter(key="legacy-new", window_start=NOW - timedelta(minutes=5)))
    assert storage.rate_limits.garbage_collect(NOW) == 1
    assert storage.rate_limits.count("legacy-new", now=NOW, window=timedelta(minutes=15)) == 0
    with storage.db.session() as session:
        assert session.get(RateLimitCounter, "legacy-new") is not None


def test_gc_deletes_exactly_the_expired_key_values(storage: Storage) -> None:
    values = storage.values
    values.put("forever", "1")
    values.put("lapsed", "2", expires_at=NOW - timedelta(seconds=1))
    values.put("pending", "3", expires_at=NOW + timedelta(minutes=10))
    # Past its expiry a value reads as absent at once, before any collection.
    assert values.get("lapsed", now=NOW) is None
    assert values.get("pending", now=NOW) == "3"
    assert values.garbage_collect(NOW) == 1
    assert values.get("forever", now=NOW) == "1" and values.get("pending", now=NOW) == "3"
    assert values.garbage_collect(NOW + timedelta(hours=1)) == 1
    assert values.get("forever", now=NOW + timedelta(days=365)) == "1"


def test_gc_runs_in_bounded_batches(storage: Storage) -> None:
    from authbridge.storage.expiry import collect

    user = storage.users.create(username="batches")
    for i in range(5):
        start_session(storage, user.id, f"b{i}", NOW - timedelta(seconds=1))
    assert storage.sessions.garbage_collect(NOW, batch=2) == 2
    assert collect(storage.sessions, NOW, batch=1, max_batches=2) == 2  # capped per round
    assert collect(storage.sessions, NOW, batch=2) == 1  # until a batch comes back short
    assert collect(storage.sessions, NOW, batch=2) == 0


def test_gc_deletes_exactly_the_revocation_entries_no_longer_in_force(storage: Storage) -> None:
    from authbridge.storage.revocation_feed import FeedEntry

    feed = storage.revocation_feed
    assert storage.expiring()["revocation_feed"] is feed  # housekeeping runs it
    feed.record(
        [FeedEntry("jti", f"gone{i}", NOW, NOW - timedelta(seconds=i + 1)) for i in range(3)]
        + [FeedEntry("sub", "user-1", NOW, NOW + timedelta(days=1))]
    )
    assert feed.garbage_collect(NOW, batch=2) == 2
    assert feed.garbage_collect(NOW) == 1
    assert feed.garbage_collect(NOW) == 0
    page = feed.since(None, NOW - timedelta(days=1))
    assert [(e.kind, e.value) for e in page.entries] == [("sub", "user-1")]
