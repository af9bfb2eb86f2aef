"""The last-admin rule under concurrency (PostgreSQL, where writes really interleave).

Two admins, A and B. A disables B while B removes A's admin binding: each write alone
leaves one admin, both together leave none. One of them must be refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from authbridge.admin.errors import AdminError
from authbridge.audit.events import Actor
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api


@pytest.fixture
def pg_api(database_url: str) -> Iterator[tuple[Api, str]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the interleaving needs PostgreSQL row locks")
    with started_clients() as start:
        yield Api(start(create_app(make_settings(database_url)))), database_url


def _active_admins(api: Api) -> list[str]:
    rows = api.ready.bindings.find(role="admin")
    users = [api.ready.storage.users.get(r.user_id) for r in rows if r.user_id]
    return [u.id for u in users if u is not None and u.active]


def test_disable_and_binding_revoke_cannot_remove_both_admins(
    pg_api: tuple[Api, str],
) -> None:
    api, url = pg_api
    a, b = api.user("admin"), api.user("admin")
    [a_binding] = api.ready.bindings.find(user_id=a, role="admin")
    admin = api.ready.admin
    actor_a, actor_b = Actor(kind="user", id=a), Actor(kind="user", id=b)
    errors: list[BaseException] = []

    # Hold A's user row: the disable of B locks B, then waits on A (the other holder),
    # while B's revoke of A's binding runs in that window.
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    blocker = engine.connect()
    trans = blocker.begin()
    blocker.execute(text("SELECT id FROM users WHERE id = :a FOR UPDATE"), {"a": a})

    def disable_b() -> None:
        try:
            admin.users.disable(actor_a, b)
        except AdminError as exc:
            errors.append(exc)

    def revoke_a() -> None:
        try:
            admin.bindings.revoke(a_binding.id, actor=actor_b)
        except AdminError as exc:
            errors.append(exc)

    t1 = threading.Thread(target=disable_b)
    t1.start()
    time.sleep(0.5)
    t2 = threading.Thread(target=revoke_a)
    t2.start()
    time.sleep(0.5)
    trans.rollback()
    blocker.close()
    engine.dispose()
    t1.join(20)
    t2.join(20)
    assert _active_admins(api), f"no active admin left (refusals: {errors})"
    assert len(errors) == 1
