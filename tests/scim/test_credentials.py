"""The active set each source accepts (scim/credentials.py) and the constant-time check
over it (scim/auth.py `check`): every active credential is compared whichever matches; a
change reaches other processes through the change bus at once, or the periodic reload."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta

import pytest

from authbridge.clock import utcnow
from authbridge.scim import auth
from authbridge.scim.auth import ActiveCredential, Credential, check, digest_of
from authbridge.scim.credentials import ENV_ID, ScimCredentials
from authbridge.scim.errors import Unauthorized
from authbridge.storage import Storage
from authbridge.storage.notify import LocalBus, Topic

ENV = {
    "okta": Credential("okta", "basic", "envuser:envpass"),
    "microsoft": Credential("microsoft", "bearer", "env-token"),
}


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _credentials(storage: Storage, **kwargs: object) -> ScimCredentials:
    credentials = ScimCredentials(storage.scim_credentials, ENV, storage.changes, **kwargs)  # type: ignore[arg-type]
    credentials.subscribe()
    return credentials


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def test_every_active_credential_is_compared_whichever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[bytes] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        assert len(a) == len(b) == 32  # equal-length digests: no length leaks
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    candidates = [
        ActiveCredential("microsoft", f"c{i}", "bearer", digest_of(f"t{i}")) for i in range(4)
    ]
    for presented in ("t0", "t3", "nope"):
        compared.clear()
        matched = check(presented, candidates)
        # No early exit: the first, the last and no match all cost four comparisons.
        assert compared == [c.digest for c in candidates], presented
        assert (matched.id if matched else None) == {"t0": "c0", "t3": "c3"}.get(presented)


def test_a_request_matching_any_active_credential_is_accepted(storage: Storage) -> None:
    credentials = _credentials(storage)
    issued = credentials.issue("okta", created_by="test")
    secret = f"{issued.credential.username}:{issued.password}"
    for header, expected in (
        (_basic("envuser:envpass"), ENV_ID),
        (_basic(secret), issued.credential.id),
    ):
        matched = auth.authenticate_any("okta", credentials.active("okta"), header)
        assert matched.id == expected
    with pytest.raises(Unauthorized):
        auth.authenticate_any("okta", credentials.active("okta"), _basic(secret + "x"))
    # The other source's credential is not this one's.
    with pytest.raises(Unauthorized):
        auth.authenticate_any("microsoft", credentials.active("microsoft"), _basic(secret))


def test_issued_secrets_are_stored_as_digests_only(storage: Storage) -> None:
    credentials = _credentials(storage)
    issued = credentials.issue("microsoft", created_by="test")
    assert issued.token is not None and issued.token.startswith("abscim_")
    assert len(issued.token) >= 40  # 256 bits, base64url
    (row,) = storage.scim_credentials.all("microsoft")
    assert row.digest == digest_of(issued.token).hex()
    assert issued.token not in repr(row.__dict__)


def test_a_retirement_reaches_another_process_through_the_bus(storage: Storage) -> None:
    # Two caches over one database and one bus (what PostgreSQL NOTIFY or Redis gives
    # replicas); a long periodic reload, so only the message can explain the change.
    here = _credentials(storage, reload_every=3600)
    there = _credentials(storage, reload_every=3600)
    issued = here.issue("microsoft", created_by="test")
    assert issued.credential.id in {c.id for c in there.active("microsoft")}
    here.retire("microsoft", issued.credential.id, utcnow())
    assert issued.credential.id not in {c.id for c in there.active("microsoft")}


def test_without_the_bus_the_periodic_reload_catches_up(storage: Storage) -> None:
    quiet = LocalBus()  # hears nothing the other process publishes
    there = ScimCredentials(storage.scim_credentials, ENV, quiet, reload_every=0.0)
    here = _credentials(storage, reload_every=3600)
    assert [c.id for c in there.active("okta")] == [ENV_ID]
    issued = here.issue("okta", created_by="test")
    assert {c.id for c in there.active("okta")} == {ENV_ID, issued.credential.id}


def test_a_grace_period_ends_at_its_time_without_a_reload(storage: Storage) -> None:
    clock = Clock()
    credentials = _credentials(storage, clock=clock, reload_every=3600)
    issued = credentials.issue("microsoft", created_by="test")
    credentials.retire("microsoft", issued.credential.id, clock.now + timedelta(minutes=5))
    assert issued.credential.id in {c.id for c in credentials.active("microsoft")}
    clock.now += timedelta(minutes=5)
    assert issued.credential.id not in {c.id for c in credentials.active("microsoft")}


def test_retiring_the_environment_credential_holds_for_its_value_only(storage: Storage) -> None:
    credentials = _credentials(storage)
    assert credentials.retire("microsoft", ENV_ID, utcnow()) is not None
    assert credentials.active("microsoft") == []
    # Another process with the same value sees it retired (the marker is in the database).
    assert _credentials(storage).active("microsoft") == []
    # A new value in the environment (an operator's new secret) is active again.
    rotated = {**ENV, "microsoft": Credential("microsoft", "bearer", "env-token-2")}
    fresh = ScimCredentials(storage.scim_credentials, rotated, storage.changes)
    assert [c.id for c in fresh.active("microsoft")] == [ENV_ID]


def test_uses_are_recorded_at_most_once_a_minute(storage: Storage) -> None:
    clock = Clock()
    credentials = _credentials(storage, clock=clock)
    writes: list[str] = []
    store = storage.scim_credentials
    original = store.touch_env

    def counting(*args: object, **kwargs: object) -> None:
        writes.append("touch")
        original(*args, **kwargs)  # type: ignore[arg-type]

    store.touch_env = counting  # type: ignore[method-assign]
    (env,) = credentials.active("microsoft")
    for _ in range(5):
        credentials.used(env)
    clock.now += timedelta(seconds=61)
    credentials.used(env)
    assert writes == ["touch", "touch"]
    assert store.get("microsoft", ENV_ID).last_used_at == clock.now  # type: ignore[union-attr]


def test_the_bus_topic_is_the_one_published(storage: Storage) -> None:
    heard: list[str] = []
    storage.changes.subscribe(Topic.SCIM_CREDENTIALS, heard.append)
    _credentials(storage).issue("okta", created_by="test")
    assert heard == [""]


@pytest.mark.postgres
def test_a_retirement_reaches_another_replica_over_notify(postgres_server_url: str) -> None:
    """Two replicas (two pools, two LISTEN connections) on one PostgreSQL database, with a
    periodic reload too long to explain it: the retirement is refused there within the
    bus's delivery time."""
    from authbridge.storage.notify import PostgresBus

    one, two = Storage.open(postgres_server_url), Storage.open(postgres_server_url)
    buses = [PostgresBus(one.db), PostgresBus(two.db)]
    here = ScimCredentials(one.scim_credentials, ENV, buses[0], reload_every=3600)
    there = ScimCredentials(two.scim_credentials, ENV, buses[1], reload_every=3600)
    try:
        there.subscribe()
        assert buses[1].listening.wait(10)
        issued = here.issue("microsoft", created_by="test")
        there.invalidate()  # as if it had heard the add; the retirement is what is tested
        assert issued.credential.id in {c.id for c in there.active("microsoft")}
        here.retire("microsoft", issued.credential.id, utcnow())
        deadline = time.monotonic() + 10
        while issued.credential.id in {c.id for c in there.active("microsoft")}:
            assert time.monotonic() < deadline, "the retirement never arrived"
            time.sleep(0.05)
    finally:
        for bus in buses:
            bus.close()
        one.db.dispose()
        two.db.dispose()
