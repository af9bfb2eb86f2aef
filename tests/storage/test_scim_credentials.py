"""The SCIM credential store's contract, on SQLite and PostgreSQL: rows keep their digest
and dates, a retirement is never pushed back, the environment's marker follows its value,
uses are written at most once per interval, and housekeeping keeps the marker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage import Storage
from authbridge.storage.expiry import collect
from authbridge.storage.scim_credentials import ENV_ID, KEEP_RETIRED, ScimCredentialRow

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _row(source: str, credential_id: str, **extra: object) -> ScimCredentialRow:
    return ScimCredentialRow(
        source=source,
        id=credential_id,
        kind="basic" if source == "okta" else "bearer",
        username="okta-a" if source == "okta" else None,
        digest="ab" * 32,
        created_at=NOW,
        created_by="user:ada",
        **extra,
    )


def test_rows_round_trip_per_source(storage: Storage) -> None:
    store = storage.scim_credentials
    store.add(_row("okta", "a1", expires_at=NOW + timedelta(days=90)))
    store.add(_row("microsoft", "b1"))
    okta = store.all("okta")
    assert [(r.id, r.kind, r.username, r.digest) for r in okta] == [
        ("a1", "basic", "okta-a", "ab" * 32)
    ]
    assert okta[0].created_at == NOW and okta[0].expires_at == NOW + timedelta(days=90)
    assert {r.source for r in store.all()} == {"okta", "microsoft"}
    assert store.get("microsoft", "a1") is None  # ids are per source
    assert store.get("okta", "a1") is not None


def test_a_retirement_can_be_brought_forward_never_pushed_back(storage: Storage) -> None:
    store = storage.scim_credentials
    store.add(_row("okta", "a1"))
    later = NOW + timedelta(hours=1)
    assert store.retire("okta", "a1", later, NOW).retired_at == later  # type: ignore[union-attr]
    assert store.retire("okta", "a1", NOW + timedelta(hours=2), NOW).retired_at == later  # type: ignore[union-attr]
    assert store.retire("okta", "a1", NOW, NOW).retired_at == NOW  # type: ignore[union-attr]
    # In force: a later call changes nothing.
    assert store.retire("okta", "a1", NOW, NOW + MINUTE).retired_at == NOW  # type: ignore[union-attr]
    assert store.retire("okta", "missing", NOW, NOW) is None


def test_the_environment_marker_follows_its_value(storage: Storage) -> None:
    store = storage.scim_credentials
    store.mark_env("okta", "basic", "11" * 32, NOW)
    marker = store.get("okta", ENV_ID)
    assert marker is not None and marker.retired_at == NOW and marker.created_at is None
    # The same value again: still retired.
    store.mark_env("okta", "basic", "11" * 32, None)
    assert store.get("okta", ENV_ID).retired_at == NOW  # type: ignore[union-attr]
    # A new value in the environment is a new credential: the retirement was the old one's.
    store.mark_env("okta", "basic", "22" * 32, None)
    marker = store.get("okta", ENV_ID)
    assert marker is not None and marker.digest == "22" * 32 and marker.retired_at is None


def test_uses_are_written_at_most_once_per_interval(storage: Storage) -> None:
    store = storage.scim_credentials
    store.add(_row("microsoft", "b1"))
    store.touch("microsoft", "b1", NOW, MINUTE)
    store.touch("microsoft", "b1", NOW + timedelta(seconds=30), MINUTE)
    assert store.get("microsoft", "b1").last_used_at == NOW  # type: ignore[union-attr]
    store.touch("microsoft", "b1", NOW + MINUTE, MINUTE)
    assert store.get("microsoft", "b1").last_used_at == NOW + MINUTE  # type: ignore[union-attr]
    # The environment's credential gets its marker on first use.
    store.touch_env("microsoft", "bearer", "33" * 32, NOW)
    store.touch_env("microsoft", "bearer", "33" * 32, NOW + MINUTE)
    marker = store.get("microsoft", ENV_ID)
    assert marker is not None and marker.last_used_at == NOW + MINUTE


def test_housekeeping_deletes_long_retired_credentials_but_keeps_the_marker(
    storage: Storage,
) -> None:
    store = storage.scim_credentials
    old = NOW - KEEP_RETIRED - MINUTE
    store.add(_row("okta", "old", retired_at=old))
    store.add(_row("okta", "expired", expires_at=old))
    store.add(_row("okta", "recent", retired_at=NOW - MINUTE))
    store.add(_row("okta", "live"))
    store.mark_env("okta", "basic", "11" * 32, old)
    assert "scim_credentials" in storage.expiring()
    assert collect(store, NOW, batch=1) == 2
    assert sorted(r.id for r in store.all("okta")) == [ENV_ID, "live", "recent"]
