"""A service account's subject is cached for client_credentials grants
(storage/directory_watch.py): attacks on that cache. A grant must never be issued on what a
finished write in this process changed (disabled, deleted, a role or team taken away); a
write nobody announced (by hand, outside every replica) is seen within
SUBJECT_CACHE_SECONDS; a disabled account is never kept, so enabling it is seen at once."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import jwt
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from authbridge.storage.directory_watch import SUBJECT_CACHE_SECONDS
from authbridge.storage.provider_store import ProviderStore, Subject
from authbridge.storage.teams import TeamRef
from tests.provider.test_token import TOKEN, provider_of


def _grant(op: TestClient, client_id: str, secret: str) -> Any:
    return op.post(TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def _roles(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return sorted(claims["roles"])


def _refused(response: Any) -> bool:
    return response.status_code == 400 and response.json()["error"] == "invalid_grant"


class _Counted:
    """Counts the subject reads that reach the database."""

    def __init__(self, store: ProviderStore) -> None:
        self.reads = 0
        self._read = store.subject
        store.subject = self  # type: ignore[method-assign]

    def __call__(self, user_id: str) -> Subject | None:
        self.reads += 1
        return self._read(user_id)


def _account(op: TestClient) -> tuple[str, str, str]:
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    assert created.client.service_user_id is not None and created.secret
    return created.client.client_id, created.secret, created.client.service_user_id


def test_repeated_grants_read_the_account_once(op: TestClient) -> None:
    storage = op.app.state.services.ready().storage
    client_id, secret, _ = _account(op)
    counted = _Counted(storage.provider)
    for _ in range(5):
        assert _roles(_grant(op, client_id, secret)) == ["editor"]
    assert counted.reads == 1


def test_every_write_in_this_process_is_seen_by_the_next_grant(op: TestClient) -> None:
    storage = op.app.state.services.ready().storage
    client_id, secret, user_id = _account(op)
    assert _roles(_grant(op, client_id, secret)) == ["editor"]

    storage.bindings.add("viewer", user_id=user_id, origin="test")
    assert _roles(_grant(op, client_id, secret)) == ["editor", "viewer"]
    storage.bindings.remove("editor", user_id=user_id)
    assert _roles(_grant(op, client_id, secret)) == ["viewer"]

    team_id = storage.teams.add_member(TeamRef.own("local", "Ops"), user_id)
    storage.bindings.add("admin", team_id=team_id, origin="test")
    assert _roles(_grant(op, client_id, secret)) == ["admin", "viewer"]
    storage.teams.remove_member(team_id, user_id)
    assert _roles(_grant(op, client_id, secret)) == ["viewer"]

    storage.users.set_active(user_id, False)
    assert _refused(_grant(op, client_id, secret))
    assert _refused(_grant(op, client_id, secret))
    storage.users.set_active(user_id, True)  # a disabled account was not kept
    assert _roles(_grant(op, client_id, secret)) == ["viewer"]


def _disable_by_hand(url: str, user_id: str) -> None:
    """A write outside every replica (an operator's SQL session): no watch, no message."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "")
        with connection:
            connection.execute("UPDATE users SET active = 0 WHERE id = ?", (user_id,))
        connection.close()
        return
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("UPDATE users SET active = false WHERE id = %s", (user_id,))


def test_a_write_nobody_announced_is_seen_within_the_bound(op: TestClient) -> None:
    storage = op.app.state.services.ready().storage
    client_id, secret, user_id = _account(op)
    assert _roles(_grant(op, client_id, secret)) == ["editor"]
    _disable_by_hand(storage.db.url, user_id)
    time.sleep(SUBJECT_CACHE_SECONDS + 0.1)
    assert _refused(_grant(op, client_id, secret))


def test_another_process_on_the_same_database_is_seen_before_the_bound(op: TestClient) -> None:
    """A second process (its own pool and watch: a CLI command, another worker or replica)
    disables the account: seen through the file beside SQLite at once, through PostgreSQL's
    NOTIFY within milliseconds; well before SUBJECT_CACHE_SECONDS either way."""
    from authbridge.storage import Storage
    from authbridge.storage.database import Database
    from authbridge.storage.notify import change_bus

    storage = op.app.state.services.ready().storage
    client_id, secret, user_id = _account(op)
    assert _roles(_grant(op, client_id, secret)) == ["editor"]
    db = Database(storage.db.url)
    other = Storage(db, change_bus(db))
    try:
        other.users.set_active(user_id, False)
        deadline = time.monotonic() + SUBJECT_CACHE_SECONDS / 2
        while not _refused(_grant(op, client_id, secret)):
            assert time.monotonic() < deadline, "the other process's write was not heard"
            time.sleep(0.02)
    finally:
        other.changes.close()
        db.dispose()
