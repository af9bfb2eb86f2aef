"""The revocation feed's cursor semantics, on SQLite and PostgreSQL: every entry once, in
commit order, only while it matters; and every revocation path writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.revocation_feed import FeedEntry, revoked_token

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _jti(name: str, expires_at: datetime = LATER) -> FeedEntry:
    return FeedEntry("jti", name, NOW, expires_at)


def test_an_empty_feed_starts_at_zero_and_stays_there(storage: Storage) -> None:
    page = storage.revocation_feed.since(None, NOW)
    assert (page.entries, page.cursor, page.more, page.reset) == ([], 0, False, False)
    assert storage.revocation_feed.since(page.cursor, NOW).entries == []


def test_each_entry_comes_once_in_order_after_the_cursor(storage: Storage) -> None:
    feed = storage.revocation_feed
    feed.record([_jti("a"), _jti("b")])
    first = feed.since(None, NOW)
    assert [e.value for e in first.entries] == ["a", "b"]
    feed.record([_jti("c")])
    second = feed.since(first.cursor, NOW)
    assert [e.value for e in second.entries] == ["c"]
    assert second.cursor > first.cursor
    # Asking again with the newest cursor: nothing new, and the cursor does not move back.
    third = feed.since(second.cursor, NOW)
    assert third.entries == [] and third.cursor == second.cursor


def test_pages_are_bounded_and_say_more_follows(storage: Storage) -> None:
    feed = storage.revocation_feed
    feed.record([_jti(f"t{i}") for i in range(5)])
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = feed.since(cursor, NOW, limit=2)
        seen += [e.value for e in page.entries]
        cursor = page.cursor
        if not page.more:
            break
    assert seen == [f"t{i}" for i in range(5)]


def test_entries_no_longer_in_force_are_left_out(storage: Storage) -> None:
    feed = storage.revocation_feed
    feed.record([_jti("old", NOW - timedelta(seconds=1)), _jti("live")])
    page = feed.since(None, NOW)
    assert [e.value for e in page.entries] == ["live"]
    # The cursor still passes the expired entry: it is never served later.
    assert feed.since(page.cursor, NOW).entries == []


def test_a_cursor_ahead_of_the_feed_starts_over(storage: Storage) -> None:
    """A restored (older) database: the follower's cursor is not one of this feed's."""
    feed = storage.revocation_feed
    feed.record([_jti("a")])
    page = feed.since(10_000, NOW)
    assert page.reset and [e.value for e in page.entries] == ["a"]


def test_a_token_entry_outlives_its_token_by_the_clock_tolerance(storage: Storage) -> None:
    """A verifier with clock tolerance accepts a token a little past its exp: the entry
    must still be served then."""
    storage.revocation_feed.record([revoked_token("t", NOW, LATER)])
    just_after = LATER + timedelta(seconds=30)
    assert [e.value for e in storage.revocation_feed.since(None, just_after).entries] == ["t"]


def test_revoking_a_user_feeds_its_tracked_tokens_and_the_subject(storage: Storage) -> None:
    user = storage.users.create(username="robot:etl", kind="robot")
    storage.provider.add_robot_token("jti-robot", user.id, "", LATER)
    until = NOW + timedelta(days=1)
    storage.provider.revoke_user(user.id, NOW, until)
    page = storage.revocation_feed.since(None, NOW)
    kinds = {(e.kind, e.value) for e in page.entries}
    assert kinds == {("jti", "jti-robot"), ("sub", user.id)}
    subject = next(e for e in page.entries if e.kind == "sub")
    assert subject.revoked_at == NOW and subject.expires_at == until
    # Revoking again adds the subject again (a later deactivation covers more), not the id.
    storage.provider.revoke_user(user.id, NOW + timedelta(minutes=1), until)
    again = storage.revocation_feed.since(page.cursor, NOW)
    assert [(e.kind, e.value) for e in again.entries] == [("sub", user.id)]


def test_a_robot_token_and_an_access_token_revoked_by_id_reach_the_feed(
    storage: Storage,
) -> None:
    user = storage.users.create(username="robot:ci", kind="robot")
    storage.provider.add_robot_token("jti-ci", user.id, "", LATER)
    assert storage.provider.revoke_robot_token("jti-ci", NOW)
    assert not storage.provider.revoke_robot_token("jti-ci", NOW)  # once only
    storage.provider.revoke_jti("jti-rfc7009", LATER)
    storage.provider.revoke_jti("jti-rfc7009", LATER)
    page = storage.revocation_feed.since(None, NOW)
    assert [e.value for e in page.entries] == ["jti-ci", "jti-rfc7009"]
