"""`/admin/roles`: roles with their permissions; bindings filtered by subject and scope, page
by page; granting (roles.write) and revoking (confirmed), with the service's refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from authbridge.admin.paging import PageRequest
from authbridge.audit.events import Actor
from authbridge.audit.log import AuditLog
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console, rows
from tests.web.console.test_teams import LEAD, cross_site

SYSTEM = Actor("cli", "test")


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **LEAD))))


def _user(console: Console, email: str) -> str:
    return console.ready.storage.users.create(username=email, email=email, roles=[]).id


def _bindings(console: Console, **filters: str) -> list[tuple[str, str, str | None, str | None]]:
    found = console.ready.admin.bindings.list(PageRequest(200), **filters)  # type: ignore[arg-type]
    return [(b.role, b.scope, b.username, b.team_name) for b in found.items]


def _events(console: Console, kind: str) -> list[dict[str, object]]:
    audit = console.ready.audit
    assert isinstance(audit, AuditLog) and audit.flush()
    return [dict(e.details) for e in console.ready.admin.audit_events.query(type=kind).items]


def test_roles_with_their_permissions_refused_to_a_viewer(console: Console) -> None:
    page = console.page("/admin/roles")
    assert page.status_code == 200
    listed = rows(page.text, "role-list")
    assert listed[0].startswith("admin built in")
    assert any(r.startswith("teamlead configured Manages teams and people.") for r in listed)
    assert "teams.write" in listed[-1] and "roles.write" not in listed[-1]
    assert console.page("/admin/roles", role="viewer").status_code == 403
    ada = _user(console, "ada@example.com")
    denied = console.post("/admin/roles/bindings", {"role": "admin", "user": ada}, role="viewer")
    assert denied.status_code == 403
    assert _bindings(console, user_id=ada) == []


def test_filters_by_subject_and_scope_page_by_page(console: Console) -> None:
    ada = _user(console, "ada@example.com")
    team = console.ready.admin.teams.create("Crew", actor=SYSTEM)
    for scope in ("system", "workspace:a", "workspace:b"):
        console.ready.admin.bindings.grant("editor", user_id=ada, scope=scope, actor=SYSTEM)
    console.ready.admin.bindings.grant("viewer", team_id=team.id, scope="workspace:a", actor=SYSTEM)

    mine = console.page("/admin/roles?user=ADA@example.com&limit=2")
    assert [r.split()[1] for r in rows(mine.text, "binding-list")] == ["system", "workspace:a"]
    following = re.search(r'href="([^"]+)" rel="next"', mine.text)
    assert following and "user=ADA%40example.com" in following.group(1)
    rest = console.page(following.group(1).replace("&amp;", "&"))
    assert [r.split()[1] for r in rows(rest.text, "binding-list")] == ["workspace:b"]
    assert 'rel="next"' not in rest.text

    crew = rows(console.page("/admin/roles?team=crew").text, "binding-list")
    assert crew == ["viewer workspace:a team Crew cli Revoke"]
    scoped = rows(console.page("/admin/roles?scope=workspace:a").text, "binding-list")
    assert len(scoped) == 2
    none = console.page("/admin/roles?scope=workspace:zzz")
    assert 'id="no-bindings"' in none.text and "No binding matches" in none.text

    assert console.page("/admin/roles?user=nobody@example.com").status_code == 404
    assert console.page("/admin/roles?cursor=%%%").status_code == 400
    assert console.page("/admin/roles?cursor=WyJ4Il0").status_code == 400  # ["x"]: not an id


def test_grant_to_a_user_or_a_team(console: Console) -> None:
    ada = _user(console, "ada@example.com")
    console.ready.admin.teams.create("Crew", actor=SYSTEM)
    granted = console.post(
        "/admin/roles/bindings", {"role": "editor", "user": "ada@example.com", "scope": "ws:1"}
    )
    assert granted.status_code == 303 and granted.headers["location"].endswith("done=granted")
    assert _bindings(console, user_id=ada) == [("editor", "ws:1", "ada@example.com", None)]
    again = console.post("/admin/roles/bindings", {"role": "editor", "user": ada, "scope": "ws:1"})
    assert again.headers["location"].endswith("done=existed")
    assert console.post(
        "/admin/roles/bindings", {"role": "viewer", "team": "CREW"}
    ).status_code == (303)
    crew = console.ready.admin.teams.find_named("Crew").id
    assert _bindings(console, team_id=crew) == [("viewer", "system", None, "Crew")]
    assert [e["role"] for e in _events(console, "binding.granted")] == ["viewer", "editor"]

    both = console.post("/admin/roles/bindings", {"role": "viewer", "user": ada, "team": "Crew"})
    assert both.status_code == 400 and "exactly one" in both.text
    neither = console.post("/admin/roles/bindings", {"role": "viewer"})
    assert neither.status_code == 400
    bad_scope = console.post(
        "/admin/roles/bindings", {"role": "viewer", "user": ada, "scope": "x y"}
    )
    assert bad_scope.status_code == 400 and "scope" in bad_scope.text


def test_granting_needs_roles_write(console: Console) -> None:
    ada = _user(console, "ada@example.com")
    lead = console.post("/admin/roles/bindings", {"role": "viewer", "user": ada}, role="teamlead")
    assert lead.status_code == 403 and "roles.write" in lead.text
    assert cross_site(console, "/admin/roles/bindings", {"role": "admin", "user": ada}) == 403
    assert _bindings(console, user_id=ada) == []
    # Reading is roles.read: the team lead has none.
    assert console.page("/admin/roles", role="teamlead").status_code == 403


def test_revoke_asks_then_revokes_and_shows_refusals(console: Console) -> None:
    ada = _user(console, "ada@example.com")
    row, _ = console.ready.admin.bindings.grant("editor", user_id=ada, actor=SYSTEM)
    url = f"/admin/roles/bindings/{row.id}/revoke"
    asked = console.post(url)
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert "ada@example.com" in asked.text
    assert _bindings(console, user_id=ada) != []
    assert cross_site(console, url, {"confirmed": "yes"}) == 403
    done = console.post(url, {"confirmed": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/admin/roles?done=revoked"
    assert _bindings(console, user_id=ada) == []
    assert _events(console, "binding.revoked")[0]["before"]["role"] == "editor"  # type: ignore[index]
    assert console.post(url, {"confirmed": "yes"}).status_code == 404
    assert console.post("/admin/roles/bindings/12x/revoke").status_code == 404
    assert console.post(f"/admin/roles/bindings/{'9' * 40}/revoke").status_code == 404

    # The configuration's bindings are changed there.
    console.ready.bindings.grant("viewer", user_id=ada, origin="config:authorizer.x")
    [config] = console.ready.admin.bindings.list(PageRequest(10), user_id=ada).items
    refused = console.post(f"/admin/roles/bindings/{config.id}/revoke", {"confirmed": "yes"})
    assert refused.status_code == 409 and "configuration" in refused.text

    # The last administrator's binding stays.
    operator = console.ready.storage.users.by_username(_operator_email(console))
    assert operator is not None
    [own] = console.ready.admin.bindings.list(
        PageRequest(10), user_id=operator.id, role="admin"
    ).items
    last = console.post(f"/admin/roles/bindings/{own.id}/revoke", {"confirmed": "yes"})
    assert last.status_code == 403 and "last" in last.text
    assert console.ready.admin.bindings.get(own.id).role == "admin"


def _operator_email(console: Console) -> str:
    page = console.page("/account").text
    match = re.search(r'id="who-username">([^<]+)<', page)
    assert match
    return match.group(1)
