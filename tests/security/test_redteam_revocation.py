"""Red team, issue 10 defects 2/11: a refresh token rotated while the user's credentials are
being revoked (password change, SCIM deactivation, `users disable`) must not survive.

On PostgreSQL (READ COMMITTED) an UPDATE sees the rows committed when it started: a
successor inserted by a rotation still in flight is not among them, and a rotation that
read its token before the revocation committed used to win its conditional UPDATE after
it (that UPDATE checked `used`, not `revoked`). Each interleaving is forced with row locks
held by a transaction of the test's own, so the result does not depend on timing luck.
SQLite serialises writers, so these interleavings cannot happen there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.provider.secrets import digest
from authbridge.storage import Storage
from authbridge.storage.provider_store import ProviderStore, RefreshRow, Rotation
from tests.conftest import _fresh_postgres

pytestmark = pytest.mark.postgres

INSERT = text(
    "INSERT INTO oauth_refresh_tokens (token_hash, family_id, client_id, user_id, scope,"
    " auth_time, family_expires_at, idle_expires_at, used, revoked) VALUES (:h, 'fam',"
    " 'webapp', :u, 'openid', 0, :exp, :exp, false, false)"
)
REVOKE_USER = text("UPDATE oauth_refresh_tokens SET revoked = true WHERE user_id = :u")
WAITING = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture
def pg(postgres_server_url: str) -> Iterator[Storage]:
    storage = Storage.open(_fresh_postgres(postgres_server_url))
    yield storage
    storage.db.dispose()


def _user_with_token(storage: Storage, store: ProviderStore) -> tuple[str, str]:
    user = storage.users.create(username="ada@example.com", roles=["viewer"])
    later = utcnow() + timedelta(hours=1)
    store.add_refresh(
        digest("presented"),
        RefreshRow("fam", "webapp", user.id, "openid", 0, later, later),
    )
    return user.id, digest("presented")


def _wait_for_lock_waiters(storage: Storage, count: int) -> None:
    deadline = time.monotonic() + 10
    with storage.db.engine.connect() as conn:
        while conn.execute(WAITING).scalar_one() < count:
            assert time.monotonic() < deadline, "the interleaving was not reached"
            time.sleep(0.02)
            conn.rollback()


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def _rotate(store: ProviderStore, presented: str) -> Callable[[], Rotation]:
    return lambda: store.rotate_refresh(
        presented, digest("successor"), utcnow(), 3600, client_id="webapp"
    )


def test_revoking_a_user_during_a_rotation_revokes_the_successor(pg: Storage) -> None:
    store = ProviderStore(pg.db)
    user_id, presented = _user_with_token(pg, store)
    with pg.db.engine.connect() as blocker:
        # Holds the successor's key: the rotation stops after using the presented token
        # (its row locked), before its INSERT of the successor can finish.
        blocker.execute(INSERT, {"h": digest("successor"), "u": user_id, "exp": utcnow()})
        rotation, rotated = _in_thread(_rotate(store, presented))
        _wait_for_lock_waiters(pg, 1)
        revocation, _ = _in_thread(lambda: store.revoke_user(user_id))
        _wait_for_lock_waiters(pg, 2)
        blocker.rollback()
    rotation.join(10)
    revocation.join(10)
    assert rotated and rotated[0].problem is None  # the rotation went through first
    found = store.refresh_token(digest("successor"))
    assert found is not None and found[1] is False, "the successor outlived the revocation"


def test_a_rotation_that_read_its_token_before_a_revocation_does_not_win_after_it(
    pg: Storage,
) -> None:
    store = ProviderStore(pg.db)
    user_id, presented = _user_with_token(pg, store)
    with pg.db.engine.connect() as revoker:
        revoker.execute(REVOKE_USER, {"u": user_id})  # a revocation, not yet committed
        rotation, rotated = _in_thread(_rotate(store, presented))
        _wait_for_lock_waiters(pg, 1)
        revoker.commit()
    rotation.join(10)
    assert rotated
    found = store.refresh_token(digest("successor"))
    assert rotated[0].problem is not None or (found is not None and found[1] is False), (
        "a token rotated after its user's revocation committed"
    )


def test_garbage_collection_spares_a_family_rotated_while_it_runs(
    pg: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 3: a family whose token was idle past its timeout when garbage collection
    chose it, but which a rotation (begun just before that timeout, or on a replica whose
    clock is a little behind) renewed before the DELETE ran, still has a live token: the
    DELETE must not take it with the family."""
    store = ProviderStore(pg.db)
    user = pg.users.create(username="ada@example.com", roles=["viewer"])
    now = utcnow()
    later = now + timedelta(hours=1)
    idle_over = RefreshRow("fam", "webapp", user.id, "openid", 0, later, now - timedelta(seconds=1))
    store.add_refresh(digest("presented"), idle_over)
    chosen = Session.scalars

    def rotation_lands_after_the_choice(self: Session, *args: Any, **kwargs: Any) -> Any:
        families = list(chosen(self, *args, **kwargs))
        if families and store.refresh_token(digest("successor")) is None:
            renewed = RefreshRow("fam", "webapp", user.id, "openid", 0, later, later)
            store.add_refresh(digest("successor"), renewed)
        return families

    monkeypatch.setattr(Session, "scalars", rotation_lands_after_the_choice)
    store.garbage_collect(now)
    monkeypatch.undo()
    found = store.refresh_token(digest("successor"))
    assert found is not None and found[1] is True, "garbage collection deleted a live token"
