"""`/admin/scim`: sources, credentials (added with the secret shown once, retired after a
confirmation, the last one kept), and each source's last provisioning activity."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from authbridge.admin.paging import PageRequest
from authbridge.clock import utcnow
from authbridge.config.model import RoleSettings
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.scim.conftest import HEADERS, SCIM_ENV
from tests.web.console.conftest import Console, rows

SCIM_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "bob@example.com",
}


def _secret(html: str) -> str:
    match = re.search(r'id="secret">([^<]+)<', html)
    assert match, "no secret shown"
    return match.group(1)


def _add(console: Console, source: str, **data: str) -> str:
    answer = console.post(f"/admin/scim/{source}/credentials", data)
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.text


def _ids(console: Console, source: str) -> dict[str, str]:
    """Each credential's id and state, through the admin service."""
    now = utcnow()
    return {
        k.id: ("active" if k.active(now) else "inactive")
        for k in console.ready.admin.scim_credentials.list(source)
    }


def _events(console: Console, type: str) -> list[str]:
    assert console.ready.audit.flush()  # type: ignore[attr-defined]
    found = console.ready.admin.audit_events.query(type=type, page=PageRequest.of(50, None))
    return [r.target_id or "" for r in found.items]


def test_the_sources_and_an_empty_source(console: Console) -> None:
    listing = console.page("/admin/scim")
    assert listing.status_code == 200
    table = rows(listing.text, "sources")
    assert [r.split()[0] for r in table] == ["okta", "microsoft"]
    assert "no (no active credential)" in table[0] and "never" in table[0]
    source = console.page("/admin/scim/okta")
    assert source.status_code == 200
    assert "No credential: this source cannot provision" in source.text
    assert "No SCIM request from okta has changed anything yet" in source.text
    assert 'id="username"' in source.text  # Basic: a username may be chosen
    assert 'id="username"' not in console.page("/admin/scim/microsoft").text


def test_a_viewer_is_refused(console: Console) -> None:
    for path in ("/admin/scim", "/admin/scim/okta"):
        assert console.page(path, role="viewer").status_code == 403
    refused = console.post("/admin/scim/microsoft/credentials", role="viewer")
    assert refused.status_code == 403
    assert _ids(console, "microsoft") == {}


def test_an_unknown_source_is_404(console: Console) -> None:
    assert console.page("/admin/scim/nobody").status_code == 404
    assert console.post("/admin/scim/nobody/credentials").status_code == 404


def test_a_bearer_token_is_shown_once_works_and_is_never_logged(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    html = _add(console, "microsoft", expires_in_days="30")
    token = _secret(html)
    assert token.startswith("abscim_") and "shown only once" in html
    (credential_id,) = _ids(console, "microsoft")
    # It is the credential the SCIM endpoint now accepts.
    scim = console.client.get(
        "/v1/scim/v2/microsoft/Users", headers={"authorization": f"Bearer {token}"}
    )
    assert scim.status_code == 200
    page = console.page("/admin/scim/microsoft")
    assert token not in page.text
    (row,) = rows(page.text, "credentials")
    # id, state, created (by whom), age, last used, expiry.
    shown = re.match(
        rf"{credential_id} active (\S+ \S+) UTC by user:operator\d+@example.com "
        r"under a minute (\S+ \S+ UTC) (\S+) \S+ UTC",
        row,
    )
    assert shown, row
    assert shown.group(2) != "never"  # the SCIM request above used it
    assert shown.group(3) == (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    assert _events(console, "scim_credential.created") == [f"microsoft/{credential_id}"]
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    assert "/admin/scim/microsoft/credentials" in logged  # the log was captured...
    assert token not in logged  # ...and the token is not in it


def test_a_basic_credential_shows_its_username_and_password(console: Console) -> None:
    html = _add(console, "okta", username="okta-2026")
    assert 'id="username">okta-2026<' in html
    assert len(_secret(html)) >= 40
    (row,) = rows(console.page("/admin/scim/okta").text, "credentials")
    assert "okta-2026" in row


def test_adding_needs_the_csrf_token_and_this_origin(console: Console) -> None:
    browser = console.as_role("admin")
    no_token = browser.post(
        "/admin/scim/microsoft/credentials", data={}, headers={"accept": "text/html"}
    )
    assert no_token.status_code == 403
    cross = console.post(
        "/admin/scim/microsoft/credentials", headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert _ids(console, "microsoft") == {}


def test_a_bad_expiry_or_username_is_refused(console: Console) -> None:
    for data in ({"expires_in_days": "0"}, {"expires_in_days": "soon"}, {"username": "a:b"}):
        answer = console.post("/admin/scim/okta/credentials", data)
        assert answer.status_code == 400, data
        assert "Nothing was changed" in answer.text
    assert console.post("/admin/scim/microsoft/credentials", {"username": "x"}).status_code == 400
    assert _ids(console, "okta") == {}


def test_retiring_asks_first_then_retires(console: Console) -> None:
    _add(console, "microsoft")
    _add(console, "microsoft")
    first, second = _ids(console, "microsoft")
    path = f"/admin/scim/microsoft/credentials/{first}/retire"
    asked = console.post(path, {"retire_after": "0"})
    assert asked.status_code == 200
    assert 'name="confirmed" value="yes"' in asked.text
    assert _ids(console, "microsoft") == {first: "active", second: "active"}
    assert _events(console, "scim_credential.retired") == []
    done = console.post(path, {"retire_after": "0", "confirmed": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/scim/microsoft?done=retired"
    assert _ids(console, "microsoft") == {first: "inactive", second: "active"}
    assert _events(console, "scim_credential.retired") == [f"microsoft/{first}"]
    page = console.page("/admin/scim/microsoft?done=retired")
    assert "The credential is retired." in page.text
    states = {r.split()[0]: r for r in rows(page.text, "credentials")}
    assert "retired" in states[first] and "Retire credential" not in states[first]


def test_retiring_after_a_grace_keeps_it_working_meanwhile(console: Console) -> None:
    _add(console, "microsoft")
    _add(console, "microsoft")
    first, _second = _ids(console, "microsoft")
    path = f"/admin/scim/microsoft/credentials/{first}/retire"
    done = console.post(path, {"retire_after": "3600", "confirmed": "yes"})
    assert done.headers["location"] == "/admin/scim/microsoft?done=retiring"
    (credential,) = [
        k for k in console.ready.admin.scim_credentials.list("microsoft") if k.id == first
    ]
    assert credential.retired_at is not None and credential.active(utcnow())
    assert console.post(path, {"retire_after": "12", "confirmed": "yes"}).status_code == 400


def test_the_last_credential_is_not_retired(console: Console) -> None:
    _add(console, "microsoft")
    (only,) = _ids(console, "microsoft")
    path = f"/admin/scim/microsoft/credentials/{only}/retire"
    refused = console.post(path, {"retire_after": "0", "confirmed": "yes"})
    assert refused.status_code == 409
    assert "last active credential" in refused.text.lower()
    assert _ids(console, "microsoft") == {only: "active"}
    assert console.post("/admin/scim/microsoft/credentials/nope/retire").status_code == 404


def test_retiring_needs_the_csrf_token_and_this_origin(console: Console) -> None:
    _add(console, "microsoft")
    _add(console, "microsoft")
    first, second = _ids(console, "microsoft")
    path = f"/admin/scim/microsoft/credentials/{first}/retire"
    data = {"retire_after": "0", "confirmed": "yes"}
    browser = console.as_role("admin")
    assert browser.post(path, data=data).status_code == 403
    cross = console.post(path, data, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert console.post(path, data, role="viewer").status_code == 403
    assert _ids(console, "microsoft") == {first: "active", second: "active"}


def test_provisioning_activity_is_the_sources_latest_scim_events(console: Console) -> None:
    token = _secret(_add(console, "microsoft"))
    created = console.client.post(
        "/v1/scim/v2/microsoft/Users",
        json=SCIM_USER,
        headers={"authorization": f"Bearer {token}", "content-type": "application/scim+json"},
    )
    assert created.status_code == 201, created.text
    page = console.page("/admin/scim/microsoft")
    (row,) = rows(page.text, "activity")
    assert "scim.user.created" in row and "success" in row and created.json()["id"] in row
    assert 'href="/admin/audit?actor=microsoft&amp;type=scim."' in page.text
    # The other source's page shows none of it.
    assert "No SCIM request from okta" in console.page("/admin/scim/okta").text
    listing = rows(console.page("/admin/scim").text, "sources")
    assert "never" not in listing[1] and "never" in listing[0]


@pytest.fixture
def readers(sqlite_url: str) -> Iterator[Console]:
    """An app with a role that may read SCIM sources but not change them."""
    settings = make_settings(sqlite_url).model_copy(
        update={"roles": {"scim-reader": RoleSettings(permissions=["scim.read"])}}
    )
    with started_clients() as start:
        yield Console(start(create_app(settings)))


def test_a_reader_sees_no_forms_and_cannot_write(readers: Console) -> None:
    _add(readers, "microsoft")
    (credential_id,) = _ids(readers, "microsoft")
    page = readers.page("/admin/scim/microsoft", role="scim-reader")
    assert page.status_code == 200 and credential_id in page.text
    assert "Add credential" not in page.text and "/retire" not in page.text
    assert readers.post("/admin/scim/microsoft/credentials", role="scim-reader").status_code == 403
    retire = f"/admin/scim/microsoft/credentials/{credential_id}/retire"
    data = {"retire_after": "0", "confirmed": "yes"}
    assert readers.post(retire, data, role="scim-reader").status_code == 403
    assert _ids(readers, "microsoft") == {credential_id: "active"}


@pytest.fixture
def from_env(sqlite_url: str) -> Iterator[Console]:
    """An app whose sources have the environment's credentials (SCIM_AUTH_CODE_<SOURCE>)."""
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **SCIM_ENV))))


def test_rotating_off_the_environments_credential(from_env: Console) -> None:
    page = from_env.page("/admin/scim/microsoft")
    (env,) = rows(page.text, "credentials")
    assert env.startswith("env (environment) active") and "unknown" in env  # age unknown
    headers = HEADERS["microsoft"]
    assert from_env.client.get("/v1/scim/v2/microsoft/Users", headers=headers).status_code == 200
    token = _secret(_add(from_env, "microsoft"))
    path = "/admin/scim/microsoft/credentials/env/retire"
    assert from_env.post(path, {"retire_after": "0", "confirmed": "yes"}).status_code == 303
    assert from_env.client.get("/v1/scim/v2/microsoft/Users", headers=headers).status_code == 401
    new = {"authorization": f"Bearer {token}"}
    assert from_env.client.get("/v1/scim/v2/microsoft/Users", headers=new).status_code == 200
    states = {
        r.split()[0]: r for r in rows(from_env.page("/admin/scim/microsoft").text, "credentials")
    }
    assert "retired" in states["env"]
