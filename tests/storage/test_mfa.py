"""The second-factor store on every backend: single-use rules as one statement each, and
expiry of enrolments never confirmed (storage owns it; housekeeping only says "now")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.counters import DatabaseReplayCache
from authbridge.storage.mfa import PENDING_ENROLMENT

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_an_enrolment_is_confirmed_once_and_then_not_replaced(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    assert storage.mfa.start_enrolment(user.id, "sealed-1", now=NOW)
    assert storage.mfa.start_enrolment(user.id, "sealed-2", now=NOW)  # pending: replaced
    assert storage.mfa.confirm(user.id, ["h1", "h2"], now=NOW)
    assert not storage.mfa.confirm(user.id, ["h3"], now=NOW)  # a second confirmation
    assert not storage.mfa.start_enrolment(user.id, "sealed-3", now=NOW)  # confirmed stays
    found = storage.mfa.totp(user.id, now=NOW)
    assert found is not None and found.secret == "sealed-2" and found.confirmed
    assert storage.mfa.recovery_codes_left(user.id) == 2


def test_a_recovery_code_is_used_once(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    other = storage.users.create(username="bob@example.com")
    storage.mfa.start_enrolment(user.id, "s", now=NOW)
    storage.mfa.confirm(user.id, ["h1", "h2"], now=NOW)
    (first, _), _ = storage.mfa.unused_recovery_codes(user.id)
    assert not storage.mfa.use_recovery_code(other.id, first)  # not someone else's code
    assert storage.mfa.use_recovery_code(user.id, first)
    assert not storage.mfa.use_recovery_code(user.id, first)
    assert [h for _, h in storage.mfa.unused_recovery_codes(user.id)] == ["h2"]
    storage.mfa.replace_recovery_codes(user.id, ["h9"])
    assert [h for _, h in storage.mfa.unused_recovery_codes(user.id)] == ["h9"]


def test_unconfirmed_enrolments_lapse_and_are_collected(storage: Storage) -> None:
    pending = storage.users.create(username="ada@example.com")
    confirmed = storage.users.create(username="bob@example.com")
    storage.mfa.start_enrolment(pending.id, "s", now=NOW)
    storage.mfa.start_enrolment(confirmed.id, "s", now=NOW)
    storage.mfa.confirm(confirmed.id, [], now=NOW)
    later = NOW + PENDING_ENROLMENT + timedelta(seconds=1)
    assert storage.mfa.totp(pending.id, now=later) is None  # absent at once
    assert storage.mfa.garbage_collect(later) == 1
    assert storage.mfa.totp(confirmed.id, now=later + timedelta(days=400)) is not None
    assert "mfa" in storage.expiring()


def test_removing_a_user_takes_their_second_factors(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    storage.mfa.start_enrolment(user.id, "s", now=NOW)
    storage.mfa.confirm(user.id, ["h1"], now=NOW)
    assert storage.mfa.remove(user.id)
    assert storage.mfa.totp(user.id) is None and storage.mfa.recovery_codes_left(user.id) == 0
    assert not storage.mfa.remove(user.id)


def test_used_time_steps_are_markers_that_expire(storage: Storage) -> None:
    replay = DatabaseReplayCache(storage.rate_limits)
    assert replay.first_use("totp:u:100", timedelta(seconds=120))
    assert not replay.first_use("totp:u:100", timedelta(seconds=120))
    # The marker is a counter row, swept by the rate-limit store's own collection.
    assert storage.rate_limits.garbage_collect(datetime.now(UTC) + timedelta(seconds=121)) >= 1
    assert replay.first_use("totp:u:100", timedelta(seconds=120))
