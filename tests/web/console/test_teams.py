"""`/admin/teams`: the list (search, pages, empty), creating a team, a team's page (members
with their sources, adding and removing, bindings), renaming with the version read, and
deleting — each write guarded (CSRF, origin, permission, confirmation) and audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from authbridge.admin.paging import PageRequest
from authbridge.audit.events import Actor
from authbridge.audit.log import AuditLog
from authbridge.storage.teams import TeamRef
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console, rows
from tests.web.test_pages import csrf

SYSTEM = Actor("cli", "test")
# A role that manages teams and people but may not grant roles.
LEAD = {
    "ROLES__TEAMLEAD__DESCRIPTION": "Manages teams and people.",
    "ROLES__TEAMLEAD__PERMISSIONS": '["teams.read", "teams.write", "users.read", "users.write"]',
}


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **LEAD))))


def _team(console: Console, name: str, description: str | None = None) -> str:
    return console.ready.admin.teams.create(name, description=description, actor=SYSTEM).id


def _user(console: Console, email: str) -> str:
    return console.ready.storage.users.create(username=email, email=email, roles=[]).id


def _events(console: Console, kind: str) -> list[dict[str, object]]:
    """The stored audit events of `kind`, newest first (once the writer thread stored them)."""
    audit = console.ready.audit
    assert isinstance(audit, AuditLog) and audit.flush()
    found = console.ready.admin.audit_events.query(type=kind)
    return [dict(e.details) | {"target": e.target_id} for e in found.items]


def _member_sources(console: Console, team_id: str) -> dict[str, tuple[str, ...]]:
    page = console.ready.admin.teams.members(team_id, PageRequest(200))
    return {m.username: m.sources for m in page.items}


def test_empty_state_and_refused_to_a_viewer(console: Console) -> None:
    answer = console.page("/admin/teams")
    assert answer.status_code == 200 and 'id="no-teams"' in answer.text
    assert 'action="/admin/teams"' in answer.text  # the create form
    assert console.page("/admin/teams", role="viewer").status_code == 403
    team_id = _team(console, "Crew")
    assert console.page(f"/admin/teams/{team_id}", role="viewer").status_code == 403
    denied = console.post("/admin/teams", {"name": "Mine"}, role="viewer")
    assert denied.status_code == 403
    assert console.ready.admin.teams.find_local("Mine") is None


def test_search_and_pages_keep_the_query(console: Console) -> None:
    for name in ("alpha", "beta", "gamma", "delta-a"):
        _team(console, name)
    first = console.page("/admin/teams?limit=2")
    assert [r.split()[0] for r in rows(first.text, "team-list")] == ["alpha", "beta"]
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following
    second = console.page(following.group(1).replace("&amp;", "&"))
    assert [r.split()[0] for r in rows(second.text, "team-list")] == ["delta-a", "gamma"]
    assert 'rel="next"' not in second.text
    found = console.page("/admin/teams?q=A&limit=1")
    assert [r.split()[0] for r in rows(found.text, "team-list")] == ["alpha"]
    assert "q=A" in re.search(r'href="([^"]+)" rel="next"', found.text).group(1)  # type: ignore[union-attr]
    nothing = console.page("/admin/teams?q=zzz")
    assert 'id="no-teams"' in nothing.text and "zzz" in nothing.text
    bad = console.page("/admin/teams?cursor=not-a-cursor")
    assert bad.status_code == 400 and "cursor" in bad.text
    assert console.page("/admin/teams?limit=x").status_code == 400


def test_create_a_team(console: Console) -> None:
    answer = console.post("/admin/teams", {"name": "Data Eng", "description": "the data people"})
    assert answer.status_code == 303
    team = console.ready.admin.teams.find_local("Data Eng")
    assert team is not None and team.description == "the data people"
    assert answer.headers["location"] == f"/admin/teams/{team.id}?done=created"
    page = console.page(answer.headers["location"])
    assert "The team was created." in page.text and "the data people" in page.text
    assert _events(console, "team.created")[0]["target"] == team.id

    again = console.post("/admin/teams", {"name": "data eng"})
    assert again.status_code == 409 and 'aria-invalid="true"' in again.text
    assert "exists" in again.text and 'value="data eng"' in again.text
    blank = console.post("/admin/teams", {"name": "   "})
    assert blank.status_code == 400 and 'id="name-error"' in blank.text


def cross_site(console: Console, path: str, data: dict[str, str]) -> int:
    """A form posted with a valid token but from another origin; its status."""
    browser = console.as_role("admin")
    token = csrf(browser.get("/account").text)
    answer = browser.post(
        path,
        data={**data, "csrf_token": token},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    return answer.status_code


def test_writes_need_the_csrf_token_and_this_origin(console: Console) -> None:
    browser = console.as_role("admin")
    no_token = browser.post("/admin/teams", data={"name": "Forged"}, follow_redirects=False)
    assert no_token.status_code == 403
    assert cross_site(console, "/admin/teams", {"name": "Forged"}) == 403
    assert console.ready.admin.teams.find_local("Forged") is None
    team_id = _team(console, "Crew")
    assert cross_site(console, f"/admin/teams/{team_id}/delete", {"confirmed": "yes"}) == 403
    ada = _user(console, "ada@example.com")
    assert cross_site(console, f"/admin/teams/{team_id}/members", {"user": ada}) == 403
    assert console.ready.admin.teams.get(team_id).member_count == 0


def test_members_with_their_sources_added_and_removed(console: Console) -> None:
    team_id = _team(console, "Crew")
    ada = _user(console, "ada@example.com")
    _user(console, "bob@example.com")
    # SCIM's word on the same (local) team, kept apart from the administrator's.
    console.ready.storage.teams.add_member(TeamRef.own("local", "Crew"), ada, "scim:okta")
    page = console.page(f"/admin/teams/{team_id}")
    assert rows(page.text, "member-list") == ["ada@example.com SCIM (okta) change it at its source"]
    # Withdrawing what only SCIM holds: the service's refusal, naming it, without a question.
    refused = console.post(f"/admin/teams/{team_id}/members/remove", {"user": ada})
    assert refused.status_code == 404 and "scim:okta" in refused.text

    added = console.post(f"/admin/teams/{team_id}/members", {"user": "BOB@example.com"})
    assert added.status_code == 303 and added.headers["location"].endswith("done=member-added")
    by_mail = console.post(f"/admin/teams/{team_id}/members", {"user": "ada@example.com"})
    assert by_mail.status_code == 303
    assert _member_sources(console, team_id) == {
        "ada@example.com": ("local", "scim:okta"),
        "bob@example.com": ("local",),
    }
    listed = rows(console.page(f"/admin/teams/{team_id}").text, "member-list")
    assert listed[0] == "ada@example.com admin, SCIM (okta) Remove"
    assert [e["userId"] for e in _events(console, "team.member_added")] == [ada, _bob(console)]

    unknown = console.post(f"/admin/teams/{team_id}/members", {"user": "nobody@example.com"})
    assert unknown.status_code == 404 and "Nothing was changed" in unknown.text

    # Removing asks first, and says SCIM keeps the membership.
    asked = console.post(f"/admin/teams/{team_id}/members/remove", {"user": ada})
    assert asked.status_code == 200 and "SCIM (okta)" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert _member_sources(console, team_id)["ada@example.com"] == ("local", "scim:okta")
    removed = console.post(
        f"/admin/teams/{team_id}/members/remove", {"user": ada, "confirmed": "yes"}
    )
    assert removed.status_code == 303
    assert _member_sources(console, team_id)["ada@example.com"] == ("scim:okta",)
    assert _events(console, "team.member_removed")[0]["sources"] == ["scim:okta"]

    # SCIM's membership cannot be withdrawn by hand: the service's refusal, shown.
    refused = console.post(
        f"/admin/teams/{team_id}/members/remove", {"user": ada, "confirmed": "yes"}
    )
    assert refused.status_code == 404 and "scim:okta" in refused.text
    assert _member_sources(console, team_id)["ada@example.com"] == ("scim:okta",)


def _bob(console: Console) -> str:
    bob = console.ready.storage.users.by_username("bob@example.com")
    assert bob is not None
    return bob.id


def test_members_page_by_page(console: Console) -> None:
    team_id = _team(console, "Crew")
    for name in ("a", "b", "c"):
        console.ready.admin.teams.add_member(
            team_id, _user(console, f"{name}@example.com"), actor=SYSTEM
        )
    first = console.page(f"/admin/teams/{team_id}?limit=2")
    assert [r.split()[0] for r in rows(first.text, "member-list")] == [
        "a@example.com",
        "b@example.com",
    ]
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following
    second = console.page(following.group(1).replace("&amp;", "&"))
    assert [r.split()[0] for r in rows(second.text, "member-list")] == ["c@example.com"]
    empty = console.page(f"/admin/teams/{_team(console, 'Empty')}")
    assert 'id="no-members"' in empty.text and 'id="no-team-bindings"' in empty.text
    assert console.page("/admin/teams/no-such-team").status_code == 404


def test_a_team_managed_by_scim_cannot_be_edited_or_joined_by_hand(console: Console) -> None:
    ada = _user(console, "ada@example.com")
    team_id = console.ready.storage.teams.add_member(
        TeamRef.own("scim:okta", "Ops"), ada, "scim:okta"
    )
    page = console.page(f"/admin/teams/{team_id}")
    assert "SCIM (okta)" in page.text and f'action="/admin/teams/{team_id}/edit"' not in (page.text)
    bob = _user(console, "bob@example.com")
    refused = console.post(f"/admin/teams/{team_id}/members", {"user": bob})
    assert refused.status_code == 409 and "scim:okta" in refused.text
    deleted = console.post(f"/admin/teams/{team_id}/delete", {"confirmed": "yes"})
    assert deleted.status_code == 409
    assert console.ready.admin.teams.get(team_id).member_count == 1


def test_rename_carries_the_version_read(console: Console) -> None:
    team_id = _team(console, "Crew", "old")
    page = console.page(f"/admin/teams/{team_id}")
    version = re.search(r'name="version" value="([^"]+)"', page.text)
    assert version
    saved = console.post(
        f"/admin/teams/{team_id}/edit",
        {"name": "Crew 2", "description": "new", "version": version.group(1)},
    )
    assert saved.status_code == 303
    team = console.ready.admin.teams.get(team_id)
    assert (team.name, team.description) == ("Crew 2", "new")
    assert _events(console, "team.updated")[0]["after"] == {"name": "Crew 2", "description": "new"}

    # The page read before that change: its version is stale, nothing is overwritten.
    stale = console.post(
        f"/admin/teams/{team_id}/edit",
        {"name": "Crew 3", "description": "", "version": version.group(1)},
    )
    assert stale.status_code == 412
    missing = console.post(f"/admin/teams/{team_id}/edit", {"name": "Crew 3"})
    assert missing.status_code == 428
    assert console.ready.admin.teams.get(team_id).name == "Crew 2"


def test_joining_a_team_that_gives_roles_needs_roles_write(console: Console) -> None:
    team_id = _team(console, "Crew")
    ada = _user(console, "ada@example.com")
    joined = console.post(f"/admin/teams/{team_id}/members", {"user": ada}, role="teamlead")
    assert joined.status_code == 303
    # Once the team gives a role, adding a member grants it: roles.write too, as in the API.
    console.ready.bindings.grant("editor", team_id=team_id, origin="test")
    bob = _user(console, "bob@example.com")
    refused = console.post(f"/admin/teams/{team_id}/members", {"user": bob}, role="teamlead")
    assert refused.status_code == 403 and "roles.write" in refused.text
    assert list(_member_sources(console, team_id)) == ["ada@example.com"]
    # Nor may they grant a role to the team themselves, nor rename a team that gives roles.
    grant = console.post(f"/admin/teams/{team_id}/bindings", {"role": "admin"}, role="teamlead")
    assert grant.status_code == 403
    version = console.ready.admin.teams.get(team_id).version
    rename = {"name": "Crew 2", "description": "", "version": version}
    renamed = console.post(f"/admin/teams/{team_id}/edit", rename, role="teamlead")
    assert renamed.status_code == 403 and "roles.write" in renamed.text
    assert console.ready.admin.teams.get(team_id).name == "Crew"
    described = console.post(
        f"/admin/teams/{team_id}/edit",
        {"name": "Crew", "description": "kept name", "version": version},
        role="teamlead",
    )
    assert described.status_code == 303
    assert console.ready.admin.teams.get(team_id).description == "kept name"


def test_delete_asks_then_deletes(console: Console) -> None:
    team_id = _team(console, "Crew")
    console.ready.bindings.grant("editor", team_id=team_id, origin="test")
    asked = console.post(f"/admin/teams/{team_id}/delete")
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert console.ready.admin.teams.get(team_id).name == "Crew"
    gone = console.post(f"/admin/teams/{team_id}/delete", {"confirmed": "yes"})
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/teams?done=deleted"
    assert console.ready.admin.teams.find_local("Crew") is None
    assert console.ready.admin.bindings.list(PageRequest(200), team_id=team_id).items == []
    assert _events(console, "team.deleted")[0]["target"] == team_id


def test_grant_and_revoke_a_role_from_the_team_page(console: Console) -> None:
    team_id = _team(console, "Crew")
    granted = console.post(f"/admin/teams/{team_id}/bindings", {"role": "editor", "scope": ""})
    assert granted.status_code == 303 and granted.headers["location"].endswith("done=granted")
    [binding] = console.ready.admin.bindings.list(PageRequest(200), team_id=team_id).items
    assert (binding.role, binding.scope) == ("editor", "system")
    assert rows(console.page(f"/admin/teams/{team_id}").text, "team-bindings")[0].startswith(
        "editor system"
    )
    bad = console.post(f"/admin/teams/{team_id}/bindings", {"role": "nope"})
    assert bad.status_code == 400 and "nope" in bad.text

    url = f"/admin/teams/{team_id}/bindings/{binding.id}/revoke"
    asked = console.post(url)
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert console.ready.admin.bindings.get(binding.id).role == "editor"
    other = _team(console, "Other")
    assert console.post(f"/admin/teams/{other}/bindings/{binding.id}/revoke").status_code == 404
    assert console.post(url, {"confirmed": "yes"}).status_code == 303
    assert console.ready.admin.bindings.list(PageRequest(200), team_id=team_id).items == []
    assert _events(console, "binding.revoked")
