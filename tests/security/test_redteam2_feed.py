"""Red team (issue 15 part 3): the revocation feed and its follower must never lose a
revocation. Each test is an attack that made a revocation disappear for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.revocation_feed import FeedEntry

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_collecting_the_newest_entry_never_hands_its_cursor_to_a_new_revocation(
    storage: Storage,
) -> None:
    # Attack: a follower holds the cursor of the newest entry, a short-lived token's. That
    # entry expires and housekeeping deletes it; the next revocation must still come after
    # the follower's cursor. With the cursor reused (SQLite reuses the largest rowid once
    # deleted), the follower asks "since n", the new entry is n, and it is never delivered.
    feed = storage.revocation_feed
    feed.record([FeedEntry("sub", "long-lived", T0, T0 + timedelta(days=1))])
    feed.record([FeedEntry("jti", "short", T0, T0 + timedelta(minutes=1))])
    held = feed.since(None, T0).cursor
    later = T0 + timedelta(minutes=5)
    feed.garbage_collect(later)
    feed.record([FeedEntry("jti", "revoked-after-gc", later, later + timedelta(hours=1))])
    page = feed.since(held, later)
    values = [e.value for e in page.entries]
    if page.reset:
        # A reset is acceptable: the follower starts over from every live entry.
        assert "revoked-after-gc" in values and "long-lived" in values
    else:
        assert values == ["revoked-after-gc"]
