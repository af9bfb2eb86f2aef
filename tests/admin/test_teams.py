"""`TeamAdmin`: teams an administrator makes and changes, teams SCIM or an IdP owns left
alone, and memberships kept per source (withdrawing the administrator's word never removes
another source's)."""

from __future__ import annotations

import pytest

from authbridge.admin.errors import (
    AlreadyExists,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ReadOnly,
)
from authbridge.admin.paging import PageRequest
from authbridge.admin.teams import TeamAdmin
from authbridge.audit.events import Actor
from authbridge.config.model import TeamSettings
from authbridge.directory.membership import MembershipEngine, idp_source, scim_source
from authbridge.storage import Storage
from authbridge.storage.teams import TeamRef
from tests.admin.conftest import Recorder

ACTOR = Actor("user", id="admin-1", name="root")


@pytest.fixture
def audit() -> Recorder:
    return Recorder()


@pytest.fixture
def engine(storage: Storage) -> MembershipEngine:
    shared = TeamSettings(sources=["scim:okta", "local"])
    return MembershipEngine(storage, {"Data": shared})


@pytest.fixture
def teams(storage: Storage, engine: MembershipEngine, audit: Recorder) -> TeamAdmin:
    return TeamAdmin(storage, engine, audit)


def _user(storage: Storage, name: str) -> str:
    return storage.users.create(username=name).id


def test_create_read_rename_and_delete_a_local_team(teams: TeamAdmin, audit: Recorder) -> None:
    team = teams.create("Platform", description="Runs it", actor=ACTOR)
    assert (team.name, team.managed_by, team.description, team.member_count) == (
        "Platform",
        "local",
        "Runs it",
        0,
    )
    with pytest.raises(AlreadyExists):
        teams.create("platform", actor=ACTOR)  # names compare case-insensitively
    with pytest.raises(PreconditionRequired):
        teams.update(team.id, if_match=None, name="X", actor=ACTOR)
    with pytest.raises(PreconditionFailed):
        teams.update(team.id, if_match="stale", name="X", actor=ACTOR)
    renamed = teams.update(team.id, if_match=team.version, name="Platform Eng", actor=ACTOR)
    assert renamed.name == "Platform Eng" and renamed.version != team.version
    with pytest.raises(PreconditionFailed):  # the old version no longer matches
        teams.update(team.id, if_match=team.version, description=None, actor=ACTOR)
    cleared = teams.update(team.id, if_match=renamed.version, description=None, actor=ACTOR)
    assert cleared.description is None
    teams.delete(team.id, actor=ACTOR)
    with pytest.raises(NotFound):
        teams.get(team.id)
    assert audit.types() == ["team.created", "team.updated", "team.updated", "team.deleted"]
    updated = audit.events[1]
    assert updated.details["before"]["name"] == "Platform"
    assert updated.details["after"]["name"] == "Platform Eng"
    assert updated.actor == ACTOR and updated.target is not None


def test_renaming_onto_another_local_team_is_a_conflict(teams: TeamAdmin) -> None:
    teams.create("A", actor=ACTOR)
    b = teams.create("B", actor=ACTOR)
    with pytest.raises(AlreadyExists):
        teams.update(b.id, if_match="*", name="a", actor=ACTOR)


def test_blank_or_long_names_are_refused(teams: TeamAdmin) -> None:
    for name in ("", "   ", "x" * 257):
        with pytest.raises(InvalidRequest):
            teams.create(name, actor=ACTOR)


def test_teams_scim_or_an_idp_manage_are_read_only(storage: Storage, teams: TeamAdmin) -> None:
    login = storage.teams.add_member(TeamRef.own(idp_source("okta"), "Eng"), _user(storage, "u"))
    scim = storage.teams.add_member(TeamRef.own(scim_source("okta"), "Ops"), _user(storage, "v"))
    for team_id, owner in ((login, "idp:okta"), (scim, "scim:okta")):
        with pytest.raises(ReadOnly) as refused:
            teams.update(team_id, if_match="*", name="Mine", actor=ACTOR)
        assert refused.value.extensions["managedBy"] == owner
        with pytest.raises(ReadOnly):
            teams.delete(team_id, actor=ACTOR)
        # Nor can an administrator put people in a team its source does not share.
        with pytest.raises(ReadOnly):
            teams.add_member(team_id, _user(storage, f"w-{owner}"), actor=ACTOR)
        assert teams.get(team_id).member_count == 1


def test_list_filters_and_pages_without_repeats(storage: Storage, teams: TeamAdmin) -> None:
    for name in ("alpha", "Beta", "gamma", "delta", "alphabet"):
        teams.create(name, actor=ACTOR)
    storage.teams.add_member(TeamRef.own("idp:okta", "alpha"), _user(storage, "u"))
    seen: list[str] = []
    cursor = None
    while True:
        page = teams.list(PageRequest.of(2, cursor))
        seen += [t.name for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["alpha", "alpha", "alphabet", "Beta", "delta", "gamma"]
    assert [t.name for t in teams.list(PageRequest.of(10, None), q="ALPH").items] == [
        "alpha",
        "alpha",
        "alphabet",
    ]
    only_idp = teams.list(PageRequest.of(10, None), managed_by="idp:okta").items
    assert [(t.name, t.member_count) for t in only_idp] == [("alpha", 1)]
    assert teams.list(PageRequest.of(10, None), q="%").items == []  # LIKE wildcards are text


def test_membership_sources_are_kept_apart(
    storage: Storage, engine: MembershipEngine, teams: TeamAdmin, audit: Recorder
) -> None:
    # `Data` is shared by Okta's SCIM and administrators (teams.Data.sources).
    ada = _user(storage, "ada")
    team_id = storage.teams.add_member(engine.ref("scim:okta", "Data"), ada, "scim:okta")
    team = teams.get(team_id)
    assert team.managed_by == "scim:okta"

    member, added = teams.add_member(team_id, ada, actor=ACTOR)
    assert added and member.sources == ("local", "scim:okta")
    again, added_again = teams.add_member(team_id, ada, actor=ACTOR)
    assert not added_again and again.sources == member.sources  # idempotent

    remaining = teams.remove_member(team_id, ada, actor=ACTOR)
    assert remaining.sources == ("scim:okta",)
    assert [t.id for t in storage.teams.teams_of(ada)] == [team_id]  # still in, through SCIM
    with pytest.raises(NotFound) as nothing:
        teams.remove_member(team_id, ada, actor=ACTOR)
    assert nothing.value.extensions["sources"] == ["scim:okta"]
    assert "scim:okta" in nothing.value.detail
    assert audit.types() == ["team.member_added", "team.member_removed"]


def test_members_list_with_sources_in_pages(storage: Storage, teams: TeamAdmin) -> None:
    team = teams.create("Crew", actor=ACTOR)
    ids = [_user(storage, f"user{i}") for i in range(5)]
    for user_id in ids:
        teams.add_member(team.id, user_id, actor=ACTOR)
    first = teams.members(team.id, PageRequest.of(3, None))
    rest = teams.members(team.id, PageRequest.of(3, first.next_cursor))
    assert rest.next_cursor is None
    names = [m.username for m in [*first.items, *rest.items]]
    assert names == [f"user{i}" for i in range(5)]
    assert all(m.sources == ("local",) for m in first.items)
    assert teams.get(team.id).member_count == 5
    last = teams.remove_member(team.id, ids[0], actor=ACTOR)
    assert last.sources == ()


def test_unknown_team_or_user(storage: Storage, teams: TeamAdmin) -> None:
    team = teams.create("Crew", actor=ACTOR)
    with pytest.raises(NotFound):
        teams.add_member(team.id, "no-such-user", actor=ACTOR)
    with pytest.raises(NotFound):
        teams.add_member("no-such-team", _user(storage, "x"), actor=ACTOR)
    with pytest.raises(NotFound):
        teams.members("no-such-team", PageRequest.of(None, None))


def test_a_configured_shared_team_keeps_its_name(storage: Storage, audit: Recorder) -> None:
    # Owned by `local`, shared with Okta's SCIM: a rename would split it from SCIM's group.
    engine = MembershipEngine(storage, {"Data": TeamSettings(sources=["local", "scim:okta"])})
    teams = TeamAdmin(storage, engine, audit)
    team = teams.create("Data", actor=ACTOR)
    assert team.managed_by == "local"
    with pytest.raises(ReadOnly):
        teams.update(team.id, if_match=team.version, name="Data2", actor=ACTOR)
    described = teams.update(team.id, if_match=team.version, description="d", actor=ACTOR)
    assert described.description == "d"


def test_find_named_by_id_or_a_name_one_team_has(teams: TeamAdmin, storage: Storage) -> None:
    crew = teams.create("Crew", actor=ACTOR)
    assert teams.find_named("crew").id == crew.id
    assert teams.find_named(crew.id).id == crew.id
    with pytest.raises(NotFound):
        teams.find_named("Cre")  # a part of a name names no team
    ada = _user(storage, "ada")
    storage.teams.add_member(TeamRef.own(scim_source("okta"), "CREW"), ada, scim_source("okta"))
    with pytest.raises(InvalidRequest, match="several teams"):
        teams.find_named("Crew")
    with pytest.raises(NotFound):
        teams.find_named("x" * 300)
