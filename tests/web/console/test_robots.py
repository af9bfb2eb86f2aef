"""`/admin/robots`: list (name, who issued it, roles, expiry) with pages and an empty state,
issue (the token shown once and never logged; a role beyond viewer needs roles.write),
revoke after a confirmation (the token is refused at once) — refused for viewers and
cross-site forms, audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from authbridge.audit.events import Actor
from authbridge.config.model import RoleSettings
from authbridge.web.app import create_app
from authbridge.web.observability import configure_logging
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console, rows
from tests.web.console.test_clients import audited, secret_of

PATH = "/admin/robots"
ACTOR = Actor("system")


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    settings = make_settings(sqlite_url)
    settings = settings.model_copy(
        update={
            "roles": {"integrator": RoleSettings(permissions=["clients.read", "clients.write"])}
        }
    )
    with started_clients() as start:
        yield Console(start(create_app(settings)))


def _issue(console: Console, **fields: str) -> tuple[str, str]:
    answer = console.post(PATH, {"name": "ci", "role": "viewer", "lifetime": "86400", **fields})
    assert answer.status_code == 201, answer.text
    jti = re.search(r"<dt>Token id</dt><dd>([^<]+)</dd>", answer.text)
    assert jti
    return jti.group(1), secret_of(answer.text)


def test_empty_state_and_viewers_refused(console: Console) -> None:
    answer = console.page(PATH)
    assert answer.status_code == 200 and 'id="no-robots"' in answer.text
    assert console.page(PATH, role="viewer").status_code == 403
    assert console.post(PATH, {"name": "ci"}, role="viewer").status_code == 403
    assert console.ready.storage.users.by_username("robot:ci") is None


def test_cross_site_and_tokenless_forms_are_refused(console: Console) -> None:
    browser = console.as_role("admin")
    assert browser.post(PATH, data={"name": "ci"}).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.page(PATH).text)
    assert token
    answer = browser.post(
        PATH,
        data={"name": "ci", "csrf_token": token.group(1)},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert console.ready.storage.users.by_username("robot:ci") is None


def test_issue_shows_the_token_once_and_lists_the_robot(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    capsys.readouterr()
    jti, token = _issue(console, description="nightly build")
    captured = capsys.readouterr()
    assert "/admin/robots" in captured.out + captured.err
    assert token not in captured.out + captured.err
    assert console.ready.provider.access_claims(token) is not None
    assert audited(console, "robot.issued", jti) != []  # (stored: who issued it is known)
    page = console.page(PATH).text
    assert token not in page
    [row] = rows(page, "robots")
    assert row.startswith("ci nightly build operator") and " viewer " in row
    assert row.endswith("UTC active Revoke…")


def test_a_role_beyond_viewer_needs_roles_write(console: Console) -> None:
    answer = console.post(PATH, {"name": "boss", "role": "admin"}, role="integrator")
    assert answer.status_code == 403 and "roles.write" in answer.text
    assert console.ready.storage.users.by_username("robot:boss") is None
    answer = console.post(PATH, {"name": "ok", "role": "viewer"}, role="integrator")
    assert answer.status_code == 201
    # Who issued it is audit information: not shown to those who may not read the log.
    assert "operator" not in rows(console.page(PATH, role="integrator").text, "robots")[0]


def test_invalid_input_is_named_on_its_field(console: Console) -> None:
    answer = console.post(PATH, {"name": "bad name"})
    assert answer.status_code == 400
    assert re.search(r'<input id="name"[^>]*aria-invalid="true"[^>]*autofocus', answer.text)
    answer = console.post(PATH, {"name": "ci", "lifetime": "5"})
    assert answer.status_code == 400
    assert re.search(r'<select id="lifetime"[^>]*aria-invalid="true"', answer.text)
    assert console.ready.storage.users.by_username("robot:ci") is None


def test_revoke_asks_first_then_the_token_is_refused(console: Console) -> None:
    jti, token = _issue(console)
    asked = console.post(f"{PATH}/{jti}/revoke")
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert console.ready.provider.access_claims(token) is not None
    answer = console.post(f"{PATH}/{jti}/revoke", {"confirmed": "yes"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=revoked")
    assert console.ready.provider.access_claims(token) is None
    assert console.ready.admin.robots.get(jti).revoked_at is not None
    assert audited(console, "robot.revoked", jti) != []
    [row] = rows(console.page(PATH).text, "robots")
    assert row.endswith("revoked")
    assert console.post(f"{PATH}/{jti}/revoke", {"confirmed": "yes"}).status_code == 404
    assert console.post(f"{PATH}/nosuch/revoke", {"confirmed": "yes"}).status_code == 404


def test_pages_of_fifty(console: Console) -> None:
    for n in range(55):
        console.ready.admin.robots.issue(ACTOR, f"bot{n:02d}", "viewer", 3600)
    first = console.page(PATH)
    listed = rows(first.text, "robots")
    link = re.search(r'href="(/admin/robots\?cursor=[^"]+)" rel="next"', first.text)
    assert len(listed) == 50 and link
    second = rows(console.page(link.group(1)).text, "robots")
    names = [r.split()[0] for r in listed + second]
    assert len(names) == len(set(names)) == 55
    assert console.page(PATH + "?cursor=!!").status_code == 400
