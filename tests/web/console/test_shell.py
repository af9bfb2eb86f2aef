"""The console's frame: who gets in, what the navigation offers, and how writes are guarded
(CSRF first, then the permission; confirmation before a destructive act)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.web.console.conftest import Console


def test_no_session_is_sent_to_sign_in_and_back(console: Console) -> None:
    anonymous = TestClient(console.client.app, base_url=str(console.client.base_url))
    answer = anonymous.get("/admin?x=1", follow_redirects=False)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == ["/admin?x=1"]


def test_a_user_without_administration_permissions_is_refused(console: Console) -> None:
    for role in ("viewer", "editor", None):
        browser = console.browser(role)
        answer = browser.get("/admin", headers={"accept": "text/html"})
        assert answer.status_code == 403, role
        assert "permission" in answer.text


def test_an_admin_sees_every_section(console: Console) -> None:
    answer = console.page("/admin")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    for path in ("/admin/users", "/admin/teams", "/admin/audit", "/admin/keys", "/admin/scim"):
        assert f'href="{path}"' in answer.text


def test_permissions_are_read_per_request_not_at_sign_in(console: Console) -> None:
    browser = console.browser(None, email="later@example.com")
    user = console.ready.storage.users.by_username("later@example.com")
    assert user is not None
    console.ready.bindings.grant("admin", user_id=user.id, origin="test")
    assert browser.get("/admin").status_code == 200
    console.ready.bindings.revoke("admin", user_id=user.id)
    assert browser.get("/admin", headers={"accept": "text/html"}).status_code == 403


def test_the_account_page_links_operators_to_the_console(console: Console) -> None:
    assert 'href="/admin"' in console.page("/account").text
    assert 'href="/admin"' not in console.browser("viewer").get("/account").text
