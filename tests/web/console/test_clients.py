"""`/admin/clients`: the list and its pages, registering (the secret shown once, never in a
URL, a later page or the log), changing name and redirect URIs through the one validator
with the API's lost-update check, rotating with two valid secrets, removing — confirmed
first, refused for viewers and cross-site forms, audited; config-file clients read-only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from authbridge.admin.clients import ClientChanges, client_version
from authbridge.admin.paging import encode_cursor
from authbridge.audit.events import Actor
from authbridge.provider.clients import Client, secret_matches
from authbridge.web.app import create_app
from authbridge.web.observability import configure_logging
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console, rows

ACTOR = Actor("system")
CONFIGURED = {
    "CLIENTS__FILEAPP__NAME": "File app",
    "CLIENTS__FILEAPP__SECRET": "a-configured-secret-of-enough-length",
    "CLIENTS__FILEAPP__REDIRECT_URIS": '["https://file.example/cb"]',
}
NEW: dict[str, Any] = {
    "client_id": "web",
    "grant_types": ["authorization_code", "refresh_token"],
    "name": "Web",
    "client_type": "confidential",
    "redirect_uris": "https://web.example/cb\n\n  https://web.example/other  \n",
}


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **CONFIGURED))))


def audited(console: Console, kind: str, target: str) -> list[str]:
    flush = getattr(console.ready.audit, "flush", None)
    if flush is not None:
        flush()
    found = console.ready.admin.audit_events.query(type=kind, target_id=target)
    return [str(e.actor_name) for e in found.items]


def secret_of(html: str) -> str:
    match = re.search(r'<textarea id="secret"[^>]*>([^<]+)</textarea>', html)
    assert match, "no secret on the page"
    return match.group(1)


def register(console: Console, **fields: str) -> str:
    answer = console.post("/admin/clients", {**NEW, **fields})
    assert answer.status_code == 201, answer.text
    return secret_of(answer.text)


def test_the_list_shows_each_client_and_marks_read_only_ones(console: Console) -> None:
    register(console)
    answer = console.page("/admin/clients")
    assert answer.status_code == 200
    listed = rows(answer.text, "clients")
    assert any(r.startswith("web Web confidential authorization_code") for r in listed)
    assert "web Web confidential authorization_code, refresh_token 2 registered" in listed
    assert "fileapp File app confidential authorization_code, refresh_token 1 config read-only" in (
        listed
    )
    assert any(r.startswith("authbridge-cli") and "builtin read-only" in r for r in listed)


def test_viewers_are_refused_every_page_and_act(console: Console) -> None:
    register(console)
    for path in ("/admin/clients", "/admin/clients/web"):
        assert console.page(path, role="viewer").status_code == 403
    for path in ("/admin/clients", "/admin/clients/web", "/admin/clients/web/delete"):
        answer = console.post(path, {**NEW, "confirmed": "yes"}, role="viewer")
        assert answer.status_code == 403, path
    assert console.ready.admin.clients.get("web").name == "Web"


def test_a_form_without_the_token_or_from_another_site_is_refused(console: Console) -> None:
    browser = console.as_role("admin")
    assert browser.post("/admin/clients", data=NEW).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.page("/admin/clients").text)
    assert token
    answer = browser.post(
        "/admin/clients",
        data={**NEW, "csrf_token": token.group(1)},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert console.ready.provider.store.client("web") is None


def test_registering_shows_the_secret_once_and_never_logs_it(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    capsys.readouterr()
    answer = console.post("/admin/clients", NEW)
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    secret = secret_of(answer.text)
    assert len(secret) >= 40
    row = console.ready.provider.store.client("web")
    assert row is not None and secret_matches(row, secret, console.ready.provider.clock())
    assert row.redirect_uris == ("https://web.example/cb", "https://web.example/other")
    for later in ("/admin/clients", "/admin/clients/web"):
        assert secret not in console.page(later).text
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    assert "/admin/clients" in logged and secret not in logged
    assert audited(console, "client.created", "web") != []


def test_a_public_client_gets_no_secret(console: Console) -> None:
    answer = console.post("/admin/clients", {**NEW, "client_type": "public"})
    assert answer.status_code == 201 and 'id="secret"' not in answer.text
    assert console.ready.admin.clients.get("web").public


def test_an_invalid_uri_is_named_next_to_its_field_and_nothing_is_made(console: Console) -> None:
    answer = console.post(
        "/admin/clients", {**NEW, "redirect_uris": "https://ok.example/cb\nhttps://x.example/#f"}
    )
    assert answer.status_code == 400
    textarea = re.search(r'<textarea id="redirect_uris"[^>]*>', answer.text)
    assert textarea and 'aria-invalid="true"' in textarea.group(0)
    assert "autofocus" in textarea.group(0) and "redirect_uris-error" in textarea.group(0)
    assert re.search(r'id="redirect_uris-error">[^<]*fragment', answer.text)
    assert "https://x.example/#f" in answer.text  # what was typed is kept
    assert console.ready.provider.store.client("web") is None
    # A space or a control character is no URI (and NUL no database stores).
    for bad in ("https://a.example/c b", "https://a.example/\x01"):
        answer = console.post("/admin/clients", {**NEW, "redirect_uris": bad})
        assert answer.status_code == 400 and 'aria-invalid="true"' in answer.text
    answer = console.post("/admin/clients", {**NEW, "grant_types": "client_credentials"})
    assert answer.status_code == 400 and "service account" in answer.text


def test_an_existing_id_is_named_on_its_field(console: Console) -> None:
    register(console)
    answer = console.post("/admin/clients", NEW)
    assert answer.status_code == 409
    assert re.search(r'<input id="client_id"[^>]*aria-invalid="true"', answer.text)


def test_changing_name_and_redirect_uris(console: Console) -> None:
    register(console)
    page = console.page("/admin/clients/web").text
    version = re.search(r'name="version" value="([^"]+)"', page)
    assert version
    answer = console.post(
        "/admin/clients/web",
        {"version": version.group(1), "name": "Web 2", "redirect_uris": "https://new.example/cb"},
    )
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=updated")
    client = console.ready.admin.clients.get("web")
    assert client.name == "Web 2" and client.redirect_uris == ("https://new.example/cb",)
    assert "The client was changed." in console.page(answer.headers["location"]).text
    assert audited(console, "client.updated", "web") != []


def test_a_change_made_meanwhile_is_not_overwritten(console: Console) -> None:
    register(console)
    stale = client_version(console.ready.admin.clients.get("web"))
    console.ready.admin.clients.update(ACTOR, "web", ClientChanges(name="Theirs"), "*")
    answer = console.post(
        "/admin/clients/web", {"version": stale, "name": "Mine", "redirect_uris": ""}
    )
    assert answer.status_code == 412
    assert console.ready.admin.clients.get("web").name == "Theirs"
    # No version at all is refused too (the API's 428), never a blind write.
    answer = console.post("/admin/clients/web", {"name": "Mine", "redirect_uris": ""})
    assert answer.status_code == 428
    assert console.ready.admin.clients.get("web").name == "Theirs"


def test_an_invalid_change_marks_the_field_and_keeps_the_client(console: Console) -> None:
    register(console)
    version = client_version(console.ready.admin.clients.get("web"))
    answer = console.post(
        "/admin/clients/web",
        {"version": version, "name": "Web", "redirect_uris": "https://a.example/\nnot a uri"},
    )
    assert answer.status_code == 400
    assert re.search(
        r'<textarea id="redirect_uris"[^>]*aria-invalid="true"[^>]*autofocus', (answer.text)
    )
    assert console.ready.admin.clients.get("web").redirect_uris == (
        "https://web.example/cb",
        "https://web.example/other",
    )


def test_config_file_clients_are_read_only_with_a_clear_message(console: Console) -> None:
    page = console.page("/admin/clients/fileapp").text
    assert "Defined in the config file: change it there." in page
    assert 'action="/admin/clients/fileapp"' not in page and "/delete" not in page
    answer = console.post("/admin/clients/fileapp", {"version": "*", "name": "x"})
    assert answer.status_code == 409 and "config file" in answer.text
    answer = console.post("/admin/clients/fileapp/delete", {"confirmed": "yes"})
    assert answer.status_code == 409 and "config file" in answer.text
    answer = console.post("/admin/clients/fileapp/secret", {"confirmed": "yes"})
    assert answer.status_code == 409
    assert console.ready.admin.clients.get("fileapp").name == "File app"


def test_rotating_asks_first_then_both_secrets_work_until_the_chosen_expiry(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    old = register(console)
    before = console.ready.provider.store.client("web")
    asked = console.post("/admin/clients/web/secret", {"previous_expires_in": "86400"})
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert "1 day" in asked.text
    assert console.ready.provider.store.client("web") == before
    configure_logging("debug", "json")
    capsys.readouterr()
    answer = console.post(
        "/admin/clients/web/secret", {"previous_expires_in": "86400", "confirmed": "yes"}
    )
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    new = secret_of(answer.text)
    assert new != old and "accepted until" in answer.text
    captured = capsys.readouterr()
    assert new not in captured.out + captured.err
    now = console.ready.provider.clock()
    row = console.ready.provider.store.client("web")
    assert row is not None
    assert secret_matches(row, new, now) and secret_matches(row, old, now)
    assert not secret_matches(row, old, now + timedelta(days=1, minutes=1))
    assert new not in console.page("/admin/clients/web").text
    assert audited(console, "client.secret_rotated", "web") != []


def test_a_rotation_with_no_grace_refuses_the_old_secret_at_once(console: Console) -> None:
    old = register(console)
    answer = console.post(
        "/admin/clients/web/secret", {"previous_expires_in": "0", "confirmed": "yes"}
    )
    row = console.ready.provider.store.client("web")
    assert row is not None
    now = console.ready.provider.clock()
    assert secret_matches(row, secret_of(answer.text), now) and not secret_matches(row, old, now)
    bad = console.post(
        "/admin/clients/web/secret", {"previous_expires_in": "-5", "confirmed": "yes"}
    )
    assert bad.status_code == 400


def test_removing_asks_first_and_then_removes(console: Console) -> None:
    register(console)
    asked = console.post("/admin/clients/web/delete")
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert console.ready.provider.store.client("web") is not None
    answer = console.post("/admin/clients/web/delete", {"confirmed": "yes"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=deleted")
    assert console.ready.provider.store.client("web") is None
    assert audited(console, "client.deleted", "web") != []
    assert console.page("/admin/clients/web").status_code == 404


def test_pages_of_fifty_with_a_next_link_and_an_empty_end(console: Console) -> None:
    for n in range(60):
        console.ready.admin.clients.create(
            ACTOR, Client(client_id=f"app{n:02d}", redirect_uris=("https://a.example/cb",))
        )
    first = console.page("/admin/clients")
    listed = rows(first.text, "clients")
    assert len(listed) == 50
    link = re.search(r'href="(/admin/clients\?cursor=[^"]+)" rel="next"', first.text)
    assert link
    second = rows(console.page(link.group(1).replace("&amp;", "&")).text, "clients")
    ids = [r.split()[0] for r in listed + second]
    assert len(ids) == len(set(ids)) == 60 + 2  # with fileapp and authbridge-cli
    past = console.page("/admin/clients?cursor=" + encode_cursor(["zzz"]))
    assert past.status_code == 200 and 'class="empty"' in past.text
    assert console.page("/admin/clients?cursor=!!!").status_code == 400
    assert console.page("/admin/clients/nosuch").status_code == 404
