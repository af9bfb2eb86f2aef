"""The team store's contract (storage/teams.py), on SQLite and PostgreSQL, and migration
0005_teams_membership over teams and memberships written before it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from authbridge.storage import Storage
from authbridge.storage.database import Database
from authbridge.storage.models import TeamMember, TeamMemberSource
from authbridge.storage.teams import TeamRef, team_key


def _user(storage: Storage, name: str) -> str:
    return storage.users.create(username=name).id


def _pairs(storage: Storage) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    with storage.db.session() as session:
        words = {(r.team_id, r.user_id) for r in session.query(TeamMemberSource)}
        rows = {(r.team_id, r.user_id) for r in session.query(TeamMember)}
    return words, rows


def test_each_source_has_its_own_team_of_a_name(storage: Storage) -> None:
    ada = _user(storage, "ada")
    (from_login,) = storage.teams.set_user_teams(ada, "idp:okta", [TeamRef.own("idp:okta", "Eng")])
    (by_admin,) = storage.teams.set_user_teams(ada, "local", [TeamRef.own("local", "eng")])
    assert from_login != by_admin
    assert {(t.name, t.managed_by) for t in storage.teams.teams_of(ada)} == {
        ("Eng", "idp:okta"),
        ("eng", "local"),
    }
    # Found again by the case-insensitive name, not created twice.
    again = storage.teams.set_user_teams(ada, "idp:okta", [TeamRef.own("idp:okta", "ENG")])
    assert again == [from_login]


def test_a_shared_team_is_found_through_any_accepted_source(storage: Storage) -> None:
    ada, bob = _user(storage, "ada"), _user(storage, "bob")
    shared = TeamRef("Eng", "scim:okta", ("scim:okta", "idp:okta"))
    (team,) = storage.teams.set_user_teams(ada, "idp:okta", [shared])
    row = storage.teams.get(team)
    assert row is not None and row.managed_by == "scim:okta"  # created for its owner
    assert storage.teams.add_member(shared, bob, "local") == team
    found = storage.teams.find(shared)
    assert found is not None and found.id == team
    assert storage.teams.find(TeamRef.own("idp:okta", "Eng")) is None  # not the login's own


def test_membership_is_the_union_of_the_sources_words(storage: Storage) -> None:
    ada = _user(storage, "ada")
    shared = TeamRef("Eng", "idp:okta", ("idp:okta", "local"))
    (team,) = storage.teams.set_user_teams(ada, "idp:okta", [shared])
    storage.teams.add_member(shared, ada, "local")
    storage.teams.set_user_teams(ada, "idp:okta", [])  # the login drops it ...
    assert [t.id for t in storage.teams.teams_of(ada)] == [team]  # ... the admin's word stays
    assert storage.teams.words_of(ada) == {"local": {team}}
    storage.teams.remove_member(team, ada, "local")
    assert storage.teams.teams_of(ada) == []
    words, rows = _pairs(storage)
    assert words == rows == set()


def test_a_deleted_user_leaves_no_membership(storage: Storage) -> None:
    ada = _user(storage, "ada")
    storage.teams.set_user_teams(ada, "idp:okta", [TeamRef.own("idp:okta", "Eng")])
    with storage.db.session() as session:
        session.execute(text("DELETE FROM users WHERE id = :id"), {"id": ada})
    assert _pairs(storage) == (set(), set())


def test_migration_keys_existing_teams_by_their_source(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade("0003_scim_values")
    now = datetime.now(UTC)
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO users (id, username, username_key, email_verified, active, kind, "
                "created_at, updated_at) VALUES ('u1', 'ada', 'ada', false, true, 'person', "
                ":now, :now)"
            ),
            {"now": now},
        )
        for team_id, source in (("t1", "okta"), ("t2", "scim:okta"), ("t3", "local")):
            session.execute(
                text(
                    "INSERT INTO teams (id, name, name_key, source, created_at) "
                    "VALUES (:id, :name, :key, :source, :now)"
                ),
                {
                    "id": team_id,
                    "name": f"Eng{team_id}",
                    "key": f"eng{team_id}",
                    "source": source,
                    "now": now,
                },
            )
            session.execute(
                text("INSERT INTO team_members (team_id, user_id) VALUES (:t, 'u1')"),
                {"t": team_id},
            )
    db.upgrade()
    db.dispose()
    storage = Storage.open(database_url)
    try:
        teams = {t.id: t.managed_by for t in storage.teams.teams_of("u1")}
        assert teams == {"t1": "idp:okta", "t2": "scim:okta", "t3": "local"}
        assert storage.teams.words_of("u1") == {
            "idp:okta": {"t1"},
            "scim:okta": {"t2"},
            "local": {"t3"},
        }
        # The login's old team is found as its own by the next login.
        assert storage.teams.set_user_teams(
            "u1", "idp:okta", [TeamRef.own("idp:okta", "Engt1")]
        ) == ["t1"]
        with storage.db.session() as session:
            keys = dict(session.execute(text("SELECT id, name_key FROM teams")).all())
        assert keys["t1"] == team_key("idp:okta", "Engt1")
    finally:
        storage.db.dispose()
