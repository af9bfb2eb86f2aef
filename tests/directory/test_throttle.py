"""Failed sign-in throttling: limits hold, lapse with time, and never lock an owner out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.config.model import RateLimitSettings
from authbridge.directory.throttle import SignInThrottle
from authbridge.storage import Storage


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


LIMITS = RateLimitSettings(window=900, per_account_and_address=5, per_address=8, per_account=12)


def test_per_account_and_address_limit_then_window_lapses(storage: Storage) -> None:
    clock = Clock()
    throttle = SignInThrottle(storage.rate_limits, LIMITS, clock)
    for _ in range(5):
        assert not throttle.check("ada", "10.0.0.1").throttled
        throttle.failed("ada", "10.0.0.1")
    blocked = throttle.check("ada", "10.0.0.1")
    assert blocked.throttled and blocked.retry_after == 900
    assert not throttle.check("ada", "10.0.0.2").throttled  # another address is not affected
    clock.now += timedelta(seconds=900)
    assert not throttle.check("ada", "10.0.0.1").throttled  # never locked out for good


def test_per_address_limit_stops_spraying_many_accounts(storage: Storage) -> None:
    throttle = SignInThrottle(storage.rate_limits, LIMITS, Clock())
    for i in range(8):
        throttle.failed(f"user{i}", "10.0.0.9")
    assert throttle.check("fresh-account", "10.0.0.9").throttled


def test_per_account_limit_stops_distributed_guessing(storage: Storage) -> None:
    throttle = SignInThrottle(storage.rate_limits, LIMITS, Clock())
    for i in range(12):
        throttle.failed("target", f"10.1.0.{i}")
    assert throttle.check("target", "10.2.0.1").throttled


def test_owner_with_device_cookie_is_not_locked_out_by_a_flood(storage: Storage) -> None:
    throttle = SignInThrottle(storage.rate_limits, LIMITS, Clock())
    for i in range(50):
        throttle.failed("victim", f"10.3.0.{i}")
    assert throttle.check("victim", "192.0.2.7").throttled
    assert not throttle.check("victim", "192.0.2.7", device="owner-laptop").throttled
    # A flood from the owner's own address (a shared NAT) does not reach the device either.
    for _ in range(10):
        throttle.failed("victim", "192.0.2.7")
    assert not throttle.check("victim", "192.0.2.7", device="owner-laptop").throttled
    # A stolen device cookie still only buys the pair limit's worth of guesses.
    for _ in range(5):
        throttle.failed("victim", "203.0.113.1", device="owner-laptop")
    assert throttle.check("victim", "203.0.113.1", device="owner-laptop").throttled


def test_success_clears_only_the_pair(storage: Storage) -> None:
    throttle = SignInThrottle(storage.rate_limits, LIMITS, Clock())
    for _ in range(3):
        throttle.failed("ada", "10.0.0.1")
    throttle.succeeded("ada", "10.0.0.1", throttle.check("ada", "10.0.0.1"))
    for _ in range(3):
        throttle.failed("ada", "10.0.0.1")
    assert not throttle.check("ada", "10.0.0.1").throttled  # 6 pair failures without the reset
    for _ in range(2):
        throttle.failed("ada", "10.0.0.1")
    assert throttle.check("ada", "10.0.0.1").throttled  # the address limit still counts all


def test_account_names_compare_case_insensitively(storage: Storage) -> None:
    throttle = SignInThrottle(storage.rate_limits, LIMITS, Clock())
    for _ in range(5):
        throttle.failed("Ada@Example.com", "10.0.0.1")
    assert throttle.check("ada@example.com", "10.0.0.1").throttled
