"""The device verification step (RFC 8628 §3.3) and its guess limit (§5.1), over storage."""

from __future__ import annotations

from datetime import datetime, timedelta

from authbridge.clock import utcnow
from authbridge.provider.device import (
    DEVICE_GUESSES,
    DEVICE_WINDOW,
    DeviceVerification,
    normalize_user_code,
)
from authbridge.storage import Storage
from authbridge.storage.provider_store import ProviderStore


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _verification(storage: Storage, clock: Clock) -> tuple[ProviderStore, DeviceVerification]:
    store = ProviderStore(storage.db)
    names = {"cli": "The CLI"}
    verification = DeviceVerification(
        store, storage.rate_limits, lambda cid: names.get(cid, cid), clock
    )
    return store, verification


def _pending(store: ProviderStore, now: datetime, code: str = "BCDF-GHJK") -> None:
    assert store.add_device(
        "d-" + code,
        user_code=code,
        client_id="cli",
        scope="openid groups",
        expires_at=now + timedelta(minutes=10),
        interval=5,
    )


def test_a_typed_code_finds_its_request_whatever_the_case_and_dashes(storage: Storage) -> None:
    clock = Clock()
    store, verification = _verification(storage, clock)
    _pending(store, clock.now)
    found = verification.lookup("u1", " bcdf ghjk ")
    assert found is not None
    assert (found.user_code, found.client_name, found.scope) == (
        "BCDF-GHJK",
        "The CLI",
        "openid groups",
    )


def test_every_wrong_code_counts_and_the_limit_holds_until_the_window_lapses(
    storage: Storage,
) -> None:
    clock = Clock()
    store, verification = _verification(storage, clock)
    _pending(store, clock.now)
    for _ in range(DEVICE_GUESSES):
        assert not verification.throttled("u1")
        assert verification.lookup("u1", "ZZZZ-ZZZZ") is None
    assert verification.throttled("u1")
    assert not verification.throttled("u2")  # counted per person
    clock.now += DEVICE_WINDOW + timedelta(seconds=1)
    assert not verification.throttled("u1")


def test_an_expired_or_decided_request_is_no_longer_offered(storage: Storage) -> None:
    clock = Clock()
    store, verification = _verification(storage, clock)
    user = storage.users.create(username="ada@example.com")
    _pending(store, clock.now)
    assert verification.decide(user.id, "BCDF-GHJK", approve=True, auth_time=1)
    assert verification.lookup(user.id, "BCDF-GHJK") is None  # decided once only
    assert not verification.decide(user.id, "BCDF-GHJK", approve=False, auth_time=1)
    _pending(store, clock.now, "CDFG-HJKL")
    clock.now += timedelta(minutes=11)
    assert verification.lookup(user.id, "CDFG-HJKL") is None


def test_user_codes_outside_the_alphabet_or_too_long_are_no_code() -> None:
    # RFC 8628 §6.1: the alphabet has no vowels; input is bounded before it is scanned.
    assert normalize_user_code("BCDA-GHJK") is None
    assert normalize_user_code("BCDF-GHJK" + " " * 10_000 + "X") == "BCDF-GHJK"
    assert normalize_user_code("bcdfghjk") == "BCDF-GHJK"
