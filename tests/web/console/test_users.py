"""The console's Users section: the filtered, paged list; a user's page (identities, teams
and where each membership comes from, bindings, sessions, audit trail); and the acts on a
user, each through `admin.users` with the API's permission, CSRF first, and a confirmation
before anything destructive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from authbridge.admin.paging import PageRequest
from authbridge.admin.users import user_filter
from authbridge.config.model import RoleSettings
from authbridge.storage.models import User
from authbridge.storage.teams import TeamRef
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.mailserver import mail_server
from tests.web.console.conftest import Console, rows
from tests.web.test_mfa_pages import enrol_from_account, frozen
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

EVIL = {"origin": "https://evil.example"}


@pytest.fixture
def helpdesk(sqlite_url: str) -> Iterator[Console]:
    """The console with a `helpdesk` role: users.* without roles.write."""
    settings = make_settings(sqlite_url)
    helpdesk = RoleSettings(permissions=["users.read", "users.write"])
    settings = settings.model_copy(update={"roles": {"helpdesk": helpdesk}})
    with started_clients() as start:
        yield Console(start(create_app(settings)))


def person(console: Console, name: str, **kw: object) -> User:
    """A person made straight in storage (no session), local unless `password_hash=None`."""
    fields: dict[str, object] = {
        "email": f"{name}@example.com",
        "name": name.title(),
        "password_hash": "$argon2id$x",
    }
    fields.update(kw)
    return console.ready.storage.users.create(username=f"{name}@example.com", **fields)  # type: ignore[arg-type]


def events(console: Console, user_id: str) -> list[str]:
    ready = console.ready
    assert ready.audit.flush()  # type: ignore[attr-defined]
    page = ready.admin.audit_events.query(target_type="user", target_id=user_id)
    return [e.type for e in page.items]


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next"', html)
    return found.group(1).replace("&amp;", "&") if found else None


# The list ------------------------------------------------------------------------------


def test_list_searches_and_filters_by_team_role_source_and_status(console: Console) -> None:
    storage = console.ready.storage
    ada = person(console, "ada")
    bob = person(console, "bob", password_hash=None)
    storage.users.link_identity(bob.id, "mock", "bob-sub")
    cy = person(console, "cyril")
    storage.users.set_active(cy.id, False)
    team = storage.teams.add_member(TeamRef.own("local", "Data"), ada.id)
    console.ready.bindings.grant("editor", user_id=bob.id, origin="test")

    def listed(query: str) -> list[str]:
        answer = console.page(f"/admin/users?{query}")
        assert answer.status_code == 200, answer.text
        if 'id="users"' not in answer.text:
            return []
        return [r.split()[0] for r in rows(answer.text, "users")]

    assert listed("q=ada%40") == ["ada@example.com"]
    assert listed("q=Bob") == ["bob@example.com"]  # the name, case-insensitively
    assert listed(f"team={team}") == ["ada@example.com"]
    assert listed("role=editor") == ["bob@example.com"]
    assert listed("source=mock") == ["bob@example.com"]
    assert "cyril@example.com" in listed("source=local&status=disabled")
    assert "ada@example.com" not in listed("status=disabled")
    assert listed("q=ada&status=disabled") == []
    # The form shows what is applied.
    page = console.page(f"/admin/users?team={team}&status=active").text
    assert f'<option value="{team}" selected>' in page
    assert '<option value="active" selected>' in page


def test_the_api_list_takes_the_same_filters(console: Console) -> None:
    ada = person(console, "ada")
    team = console.ready.storage.teams.add_member(TeamRef.own("local", "Data"), ada.id)
    users = console.ready.admin.users
    found = users.search(user_filter(team=team, source="local"), PageRequest())
    assert [r.user.id for r in found.items] == [ada.id]


def test_pages_follow_the_cursor_with_the_filters_kept(console: Console) -> None:
    for i in range(120):
        person(console, f"p{i:03d}")
    seen: list[str] = []
    link: str | None = "/admin/users?q=p&status=active"
    while link is not None:
        answer = console.page(link)
        assert answer.status_code == 200
        seen += [r.split()[0] for r in rows(answer.text, "users")]
        link = next_link(answer.text)
        if link is not None:
            query = parse_qs(urlsplit(link).query)
            assert query["q"] == ["p"] and query["status"] == ["active"] and query["cursor"]
    assert seen == [f"p{i:03d}@example.com" for i in range(120)]


def test_empty_states(console: Console) -> None:
    answer = console.page("/admin/users?q=nobody-has-this")
    assert answer.status_code == 200
    assert 'class="empty"' in answer.text and "No user matches" in answer.text


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-a-cursor!",
        "cursor=WyJhIiwiYiJd",
        "status=asleep",
        "role=no-such-role",
        "q=" + "x" * 400,
    ],
)
def test_a_bad_cursor_or_filter_is_a_400_page(console: Console, query: str) -> None:
    answer = console.page(f"/admin/users?{query}")
    assert answer.status_code == 400
    assert "Nothing was changed" in answer.text


def test_a_viewer_is_refused(console: Console) -> None:
    ada = person(console, "ada")
    for path in ("/admin/users", f"/admin/users/{ada.id}", "/admin/users/new"):
        assert console.page(path, role="viewer").status_code == 403


def test_an_unknown_user_is_a_404_page(console: Console) -> None:
    assert console.page("/admin/users/no-such-id").status_code == 404


# A user's page ------------------------------------------------------------------------


def test_the_user_page_shows_identities_teams_with_sources_bindings_sessions_and_audit(
    console: Console,
) -> None:
    storage = console.ready.storage
    browser = TestClient(console.client.app, base_url=str(console.client.base_url))
    assert sign_up(browser, email="ada@example.com").status_code == 303
    ada = storage.users.by_username("ada@example.com")
    assert ada is not None
    storage.users.link_identity(ada.id, "mock", "ada-sub", "ada@example.com")
    team = storage.teams.add_member(TeamRef.own("local", "Data"), ada.id)
    storage.teams.add_member(TeamRef("Data", "local", ("local", "idp:mock")), ada.id, "idp:mock")
    console.ready.bindings.grant("editor", user_id=ada.id, origin="test")
    console.post(f"/admin/users/{ada.id}/revoke", {"confirmed": "yes"})  # an audit event
    assert sign_in(browser).status_code == 303
    assert console.ready.audit.flush()  # type: ignore[attr-defined]

    page = console.page(f"/admin/users/{ada.id}")
    assert page.status_code == 200
    [identity] = rows(page.text, "identity-list")
    assert identity.startswith("mock ada-sub ada@example.com")
    [data] = rows(page.text, "team-list")
    assert data.startswith("Data local") and "an administrator" in data
    assert "identity provider (mock)" in data
    assert f'href="/admin/teams/{team}"' in page.text
    assert any(r.startswith("editor system test") for r in rows(page.text, "binding-list"))
    assert len(rows(page.text, "session-list")) == 1
    assert "user.credentials_revoked" in " ".join(rows(page.text, "audit-about-list"))
    assert f"/admin/audit?targetType=user&amp;targetId={ada.id}" in page.text


def test_empty_sections_of_a_user_page(console: Console) -> None:
    ada = person(console, "ada")
    page = console.page(f"/admin/users/{ada.id}").text
    for text in ("No browser session.", "In no team.", "No app holds a refresh token"):
        assert text in page


# Acts ---------------------------------------------------------------------------------


ACTS = [
    "disable",
    "revoke",
    "delete",
    "reset-password",
    "reset-mfa",
]


@pytest.mark.parametrize("act", ACTS)
def test_a_destructive_act_without_confirmation_changes_nothing(console: Console, act: str) -> None:
    ada = person(console, "ada")
    answer = console.post(f"/admin/users/{ada.id}/{act}")
    assert answer.status_code == 200
    assert 'name="confirmed" value="yes"' in answer.text
    assert f'action="/admin/users/{ada.id}/{act}"' in answer.text
    after = console.ready.storage.users.get(ada.id)
    assert after is not None and after.active
    assert events(console, ada.id) == []


@pytest.mark.parametrize("act", [*ACTS, "enable"])
def test_writes_need_the_csrf_token_the_origin_and_users_write(console: Console, act: str) -> None:
    ada = person(console, "ada")
    admin = console.as_role("admin")
    token = csrf(admin.get("/account").text)
    path = f"/admin/users/{ada.id}/{act}"
    data = {"confirmed": "yes"}
    assert admin.post(path, data=data, follow_redirects=False).status_code == 403
    forged = admin.post(path, data={**data, "csrf_token": token}, headers=EVIL)
    assert forged.status_code == 403
    assert console.post(path, data, role="viewer").status_code == 403
    after = console.ready.storage.users.get(ada.id)
    assert after is not None and after.active
    assert events(console, ada.id) == []


def test_disable_then_enable(console: Console) -> None:
    ada = person(console, "ada")
    answer = console.post(f"/admin/users/{ada.id}/disable", {"confirmed": "yes"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/users/{ada.id}?done=disabled"
    assert not console.ready.admin.users.get(ada.id).user.active
    page = console.page(answer.headers["location"]).text
    assert 'id="user-status">disabled' in page and "every session and token" in page
    assert console.post(f"/admin/users/{ada.id}/enable").status_code == 303
    assert console.ready.admin.users.get(ada.id).user.active
    assert events(console, ada.id) == ["user.enabled", "user.disabled"]


def test_revoke_everything_signs_the_user_out(console: Console) -> None:
    browser = console.browser(None, email="ada@example.com")
    ada = console.ready.storage.users.by_username("ada@example.com")
    assert ada is not None and console.ready.admin.users.sessions(ada.id)
    assert console.post(f"/admin/users/{ada.id}/revoke", {"confirmed": "yes"}).status_code == 303
    assert console.ready.admin.users.sessions(ada.id) == []
    assert browser.get("/account", follow_redirects=False).status_code == 303
    assert events(console, ada.id) == ["user.credentials_revoked"]


def test_ending_one_session(console: Console) -> None:
    console.browser(None, email="ada@example.com")
    ada = console.ready.storage.users.by_username("ada@example.com")
    assert ada is not None
    page = console.page(f"/admin/users/{ada.id}").text
    handle = re.search(r'name="session" value="([^"]+)"', page)
    assert handle
    path = f"/admin/users/{ada.id}/sessions/end"
    asked = console.post(path, {"session": handle.group(1)})
    assert asked.status_code == 200 and handle.group(1) in asked.text
    assert console.ready.admin.users.sessions(ada.id)
    ended = console.post(path, {"session": handle.group(1), "confirmed": "yes"})
    assert ended.status_code == 303
    assert console.ready.admin.users.sessions(ada.id) == []
    # Ending it again: not found, a refusal page, not a 500.
    assert console.post(path, {"session": handle.group(1), "confirmed": "yes"}).status_code == 404


def test_unlink_an_identity_but_never_the_only_way_in(console: Console) -> None:
    storage = console.ready.storage
    ada = person(console, "ada")
    storage.users.link_identity(ada.id, "mock", "ada-sub")
    [link] = console.ready.admin.users.identities(ada.id)
    path = f"/admin/users/{ada.id}/identities/unlink"
    assert console.post(path, {"identity": str(link.id), "confirmed": "yes"}).status_code == 303
    assert console.ready.admin.users.identities(ada.id) == []
    bob = person(console, "bob", password_hash=None)
    storage.users.link_identity(bob.id, "mock", "bob-sub")
    [only] = console.ready.admin.users.identities(bob.id)
    path = f"/admin/users/{bob.id}/identities/unlink"
    refused = console.post(path, {"identity": str(only.id), "confirmed": "yes"})
    assert refused.status_code == 403 and "only way" in refused.text
    assert console.ready.admin.users.identities(bob.id) != []
    assert console.post(path, {"identity": "x", "confirmed": "yes"}).status_code == 400


def test_revoking_a_binding_needs_roles_write(helpdesk: Console) -> None:
    console = helpdesk
    ada = person(console, "ada")
    console.ready.bindings.grant("editor", user_id=ada.id, origin="test")
    [binding] = console.ready.admin.bindings.list(PageRequest(), user_id=ada.id).items
    path = f"/admin/users/{ada.id}/bindings/revoke"
    data = {"binding": str(binding.id), "confirmed": "yes"}
    assert console.post(path, data, role="helpdesk").status_code == 403
    other = person(console, "bob")
    wrong = console.post(f"/admin/users/{other.id}/bindings/revoke", data)
    assert wrong.status_code == 400  # not this user's binding
    assert console.post(path, data).status_code == 303
    assert console.ready.admin.bindings.list(PageRequest(), user_id=ada.id).items == []


def test_an_admin_cannot_disable_or_delete_themselves(console: Console) -> None:
    console.as_role("admin")
    me = next(u for u in console.ready.storage.users.all() if u.username.startswith("operator"))
    for act in ("disable", "delete"):
        answer = console.post(f"/admin/users/{me.id}/{act}", {"confirmed": "yes"})
        assert answer.status_code == 403 and "yourself" in answer.text
    assert console.ready.storage.users.get(me.id) is not None


def test_delete(console: Console) -> None:
    ada = person(console, "ada")
    answer = console.post(f"/admin/users/{ada.id}/delete", {"confirmed": "yes"})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/users?done=deleted"
    assert console.ready.storage.users.get(ada.id) is None
    assert events(console, ada.id) == ["user.deleted"]
    assert "was deleted" in console.page(answer.headers["location"]).text


def test_reset_password_without_smtp_shows_the_link_once(console: Console) -> None:
    browser = console.browser(None, email="ada@example.com")
    ada = console.ready.storage.users.by_username("ada@example.com")
    assert ada is not None
    answer = console.post(f"/admin/users/{ada.id}/reset-password", {"confirmed": "yes"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    found = re.search(r'id="reset-link">([^<]+)<', answer.text)
    assert found
    link = urlsplit(found.group(1)).path
    assert link.startswith("/password/reset/")
    # Not in the page afterwards, nor in the audit event.
    assert urlsplit(found.group(1)).path not in console.page(f"/admin/users/{ada.id}").text
    assert events(console, ada.id) == ["user.password_reset_issued"]
    assert console.ready.audit.flush()  # type: ignore[attr-defined]
    [event] = console.ready.admin.audit_events.query(type="user.password_reset_issued").items
    assert event.details == {"emailed": False}
    # The link works (once) without SMTP, and ends the user's sessions.
    anyone = TestClient(console.client.app, base_url=str(console.client.base_url))
    form = anyone.get(link)
    assert form.status_code == 200
    done = anyone.post(
        link, data={"new_password": "another long passphrase", "csrf_token": csrf(form.text)}
    )
    assert done.status_code == 200 and "Password changed" in done.text
    assert browser.get("/account", follow_redirects=False).status_code == 303
    assert anyone.get(link).status_code == 404
    # Asking by email stays off without SMTP.
    assert anyone.get("/password/forgot").status_code == 404


def test_reset_password_is_refused_for_an_idp_account(console: Console) -> None:
    bob = person(console, "bob", password_hash=None)
    answer = console.post(f"/admin/users/{bob.id}/reset-password", {"confirmed": "yes"})
    assert answer.status_code == 403 and "IdP" in answer.text
    assert events(console, bob.id) == []


def test_reset_password_with_smtp_mails_the_link(sqlite_url: str) -> None:
    with mail_server() as smtp, started_clients() as start:
        console = Console(start(create_app(make_settings(sqlite_url, **smtp.env()))))
        ada = person(console, "ada")
        answer = console.post(f"/admin/users/{ada.id}/reset-password", {"confirmed": "yes"})
        assert answer.status_code == 303
        assert answer.headers["location"].endswith("done=reset-mailed")
        mailer = console.ready.mailer
        assert mailer is not None and mailer.flush()
        smtp.inbox.wait(1)
        assert "/password/reset/" in smtp.inbox.link()
        assert "/password/reset/" not in console.page(answer.headers["location"]).text


# Creating a local user ----------------------------------------------------------------


def test_create_a_local_user(console: Console) -> None:
    form = console.page("/admin/users/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    answer = console.post(
        "/admin/users/new",
        {"email": "new@example.com", "display_name": "New", "password": PASSWORD, "role": "editor"},
    )
    assert answer.status_code == 303
    user = console.ready.storage.users.by_username("new@example.com")
    assert user is not None and answer.headers["location"] == f"/admin/users/{user.id}?done=created"
    assert "editor" in console.ready.bindings.effective_roles(user.id).system
    assert events(console, user.id) == ["user.created"]


def test_create_shows_the_error_at_its_field(console: Console) -> None:
    answer = console.post(
        "/admin/users/new", {"email": "short@example.com", "password": "short", "role": "viewer"}
    )
    assert answer.status_code == 400
    assert re.search(r'id="password"[^>]*aria-invalid="true"[^>]*autofocus', answer.text)
    assert 'value="short@example.com"' in answer.text
    assert console.ready.storage.users.by_username("short@example.com") is None
    taken = console.post("/admin/users/new", {"email": "short@example.com", "password": PASSWORD})
    assert taken.status_code == 303
    again = console.post("/admin/users/new", {"email": "short@example.com", "password": PASSWORD})
    assert again.status_code == 409
    assert re.search(r'id="email"[^>]*aria-invalid="true"', again.text)


def test_create_with_a_role_beyond_viewer_needs_roles_write(helpdesk: Console) -> None:
    data = {"email": "x@example.com", "password": PASSWORD, "role": "admin"}
    assert helpdesk.post("/admin/users/new", data, role="helpdesk").status_code == 403
    assert helpdesk.ready.storage.users.by_username("x@example.com") is None
    form = helpdesk.page("/admin/users/new", role="helpdesk").text
    assert '<option value="admin" disabled>' in form
    data["role"] = "viewer"
    assert helpdesk.post("/admin/users/new", data, role="helpdesk").status_code == 303


def test_removing_a_users_second_factors(console: Console) -> None:
    """Issue 16 part 5 from the console: the page says a factor is held, the confirmed act
    removes it (through the admin API's act) and is audited."""
    browser = console.browser(None, email="ada@example.com")
    enrol_from_account(browser, frozen(browser))
    ada = console.ready.storage.users.by_username("ada@example.com")
    assert ada is not None and console.ready.admin.mfa.enrolled(ada.id)
    page = console.page(f"/admin/users/{ada.id}").text
    assert 'id="user-mfa">enrolled' in page and 'id="reset-mfa"' in page
    answer = console.post(f"/admin/users/{ada.id}/reset-mfa", {"confirmed": "yes"})
    assert answer.headers["location"] == f"/admin/users/{ada.id}?done=mfa-reset"
    assert not console.ready.admin.mfa.enrolled(ada.id)
    assert 'id="user-mfa">none' in console.page(answer.headers["location"]).text
    assert events(console, ada.id)[0] == "user.mfa_reset"
