"""The role-binding store on every backend (SQLite, and PostgreSQL when configured): one
table for user and team bindings at every scope, cascades, the grants a user's roles are
computed from, the configuration's bindings following it, and the migration from the
older `user_roles`/`team_roles` tables."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from authbridge.storage import Conflict, Storage
from authbridge.storage.bindings import TeamRef
from authbridge.storage.database import Database
from authbridge.storage.models import RoleBinding, Team, TeamMember


def _team(storage: Storage, team_id: str, name: str, *members: str) -> None:
    with storage.db.session() as session:
        session.add(Team(id=team_id, name=name, name_key=name.casefold(), source="local"))
        session.flush()
        for user_id in members:
            session.add(TeamMember(team_id=team_id, user_id=user_id))


def test_user_and_team_bindings_at_each_scope_reach_the_user(storage: Storage) -> None:
    ada = storage.users.create(username="ada", roles=["viewer"])
    _team(storage, "t1", "Data", ada.id)
    bindings = storage.bindings
    assert bindings.add("editor", user_id=ada.id, scope="workspace:ws1", origin="cli")
    assert bindings.add("admin", team_id="t1", origin="cli")
    assert bindings.add("viewer", team_id="t1", scope="deployment:d-7", origin="cli")
    # The same binding twice is one binding; its first origin stays.
    assert not bindings.add("editor", user_id=ada.id, scope="workspace:ws1", origin="other")
    grants = bindings.grants(ada.id)
    assert set(grants.bindings) == {
        ("viewer", "system"),
        ("editor", "workspace:ws1"),
        ("admin", "system"),
        ("viewer", "deployment:d-7"),
    }
    assert grants.teams == (TeamRef("t1", "Data", None, managed_by="local"),)
    rows = bindings.find(user_id=ada.id, scope="workspace:ws1")
    assert [(r.role, r.origin, r.username) for r in rows] == [("editor", "cli", "ada")]
    assert [r.team_name for r in bindings.find(team_id="t1")] == ["Data", "Data"]


def test_a_binding_names_one_existing_user_or_team(storage: Storage) -> None:
    with pytest.raises(Conflict):
        storage.bindings.add("viewer", user_id="no-such-user", origin="cli")
    with pytest.raises(ValueError):
        storage.bindings.add("viewer", origin="cli")
    ada = storage.users.create(username="ada")
    _team(storage, "t1", "Data")
    # Both at once is refused by the table itself too, not only by the store.
    with pytest.raises(IntegrityError), storage.db.session() as session:
        session.add(
            RoleBinding(
                role="viewer",
                scope="system",
                principal="user:x",
                user_id=ada.id,
                team_id="t1",
                origin="test",
            )
        )


def test_bindings_go_with_their_user_or_team(storage: Storage) -> None:
    ada = storage.users.create(username="ada", roles=["viewer"])
    _team(storage, "t1", "Data", ada.id)
    storage.bindings.add("editor", team_id="t1", origin="cli")
    with storage.db.session() as session:
        session.execute(text("DELETE FROM teams WHERE id = 't1'"))
    assert storage.bindings.grants(ada.id).bindings == (("viewer", "system"),)
    with storage.db.session() as session:
        session.execute(text("DELETE FROM users WHERE id = :u"), {"u": ada.id})
    assert storage.bindings.count() == 0


def test_remove_takes_exactly_one_binding(storage: Storage) -> None:
    ada = storage.users.create(username="ada", roles=["viewer"])
    storage.bindings.add("viewer", user_id=ada.id, scope="workspace:ws1", origin="cli")
    assert storage.bindings.remove("viewer", user_id=ada.id, scope="workspace:ws1")
    assert not storage.bindings.remove("viewer", user_id=ada.id, scope="workspace:ws1")
    assert storage.bindings.grants(ada.id).bindings == (("viewer", "system"),)


def test_first_admin_check_counts_user_bindings_at_system_scope(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    storage.bindings.add("admin", user_id=ada.id, scope="workspace:ws1", origin="cli")
    assert not storage.bindings.any_user_with("admin")
    storage.bindings.add("admin", user_id=ada.id, origin="cli")
    assert storage.bindings.any_user_with("admin")


def test_replace_origin_makes_the_configuration_bindings_exact(storage: Storage) -> None:
    ada = storage.users.create(username="ada")
    bob = storage.users.create(username="bob")
    eve = storage.users.create(username="eve", roles=["admin"], role_origin="setup")
    origin = "config:authorizer.initialAdmins"
    assert storage.bindings.replace_origin(origin, [(ada.id, "admin", "system")]) == (1, 0)
    wanted = [(bob.id, "admin", "system"), (eve.id, "admin", "system")]
    # Ada is no longer named: hers goes; Eve's own (setup) binding is left as it was.
    assert storage.bindings.replace_origin(origin, wanted) == (1, 1)
    rows = {(r.username, r.origin) for r in storage.bindings.find(role="admin")}
    assert rows == {("bob", origin), ("eve", "setup")}


def test_teams_are_found_by_id_or_name(storage: Storage) -> None:
    _team(storage, "t1", "Data Engineers")
    assert storage.bindings.teams_named("data engineers") == [TeamRef("t1", "Data Engineers")]
    assert storage.bindings.teams_named("t1") == [TeamRef("t1", "Data Engineers")]
    assert storage.bindings.teams_named("nobody") == []


def test_migration_carries_user_roles_over_and_drops_the_old_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.upgrade("0001")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, username_key, email_verified, active,"
                    " kind, created_at, updated_at) VALUES ('u1', 'ada', 'ada', false, true,"
                    " 'person', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(text("INSERT INTO roles VALUES ('airflow-deployer', '', false)"))
            conn.execute(
                text("INSERT INTO user_roles VALUES ('u1', 'admin'), ('u1', 'airflow-deployer')")
            )
        db.upgrade()
        storage = Storage(db)
        rows = storage.bindings.find(user_id="u1")
        assert {(r.role, r.scope, r.origin) for r in rows} == {
            ("admin", "system", "migrated:user_roles"),
            ("airflow-deployer", "system", "migrated:user_roles"),
        }
        tables = set(inspect(db.engine).get_table_names())
        assert "role_bindings" in tables and not {"roles", "user_roles", "team_roles"} & tables
    finally:
        db.dispose()
