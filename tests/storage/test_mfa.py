"""The second-factor store on every backend: single-use rules as one statement each, and
expiry of unconfirmed rows earlier versions wrote (storage owns it; housekeeping only says
"now")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.counters import DatabaseReplayCache
from authbridge.storage.mfa import PENDING_ENROLMENT
from authbridge.storage.mfa_models import TotpCredential

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _legacy_unconfirmed(storage: Storage, user_id: str, secret: str, at: datetime) -> None:
    """An unconfirmed row as versions before session-bound enrolments wrote them."""
    with storage.db.session() as session:
        session.add(TotpCredential(user_id=user_id, secret=secret, created_at=at))


def test_a_credential_is_stored_once_and_then_not_replaced(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    _legacy_unconfirmed(storage, user.id, "sealed-0", NOW)
    assert storage.mfa.totp(user.id, now=NOW) is None  # never a credential
    assert storage.mfa.enrol(user.id, "sealed-2", ["h1", "h2"], now=NOW)
    assert not storage.mfa.enrol(user.id, "sealed-3", ["h3"], now=NOW)  # a second one
    found = storage.mfa.totp(user.id, now=NOW)
    assert found is not None and found.secret == "sealed-2" and found.confirmed
    assert storage.mfa.recovery_codes_left(user.id) == 2


def test_a_recovery_code_is_used_once(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    other = storage.users.create(username="bob@example.com")
    storage.mfa.enrol(user.id, "s", ["h1", "h2"], now=NOW)
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
    _legacy_unconfirmed(storage, pending.id, "s", NOW)
    storage.mfa.enrol(confirmed.id, "s", [], now=NOW)
    later = NOW + PENDING_ENROLMENT + timedelta(seconds=1)
    assert storage.mfa.totp(pending.id, now=later) is None  # absent at once
    assert storage.mfa.garbage_collect(later) == 1
    assert storage.mfa.totp(confirmed.id, now=later + timedelta(days=400)) is not None
    assert "mfa" in storage.expiring()


def test_removing_a_user_takes_their_second_factors(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    storage.mfa.enrol(user.id, "s", ["h1"], now=NOW)
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
