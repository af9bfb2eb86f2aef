"""`/admin/service-accounts`: list with pages and an empty state, create (a role beyond viewer
needs roles.write, as in the API; the secret shown once, not logged, and it works at the
token endpoint), delete after a confirmation — refused for viewers and cross-site forms,
audited."""

from __future__ import annotations

import base64
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

PATH = "/admin/service-accounts"
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


def _grant(console: Console, client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return console.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
    ).status_code


def test_empty_state_and_viewers_refused(console: Console) -> None:
    answer = console.page(PATH)
    assert answer.status_code == 200 and 'id="no-service-accounts"' in answer.text
    assert console.page(PATH, role="viewer").status_code == 403
    assert console.post(PATH, {"name": "etl"}, role="viewer").status_code == 403
    assert console.ready.provider.store.client("sa-etl") is None


def test_cross_site_and_tokenless_forms_are_refused(console: Console) -> None:
    browser = console.as_role("admin")
    assert browser.post(PATH, data={"name": "etl"}).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.page(PATH).text)
    assert token
    answer = browser.post(
        PATH,
        data={"name": "etl", "csrf_token": token.group(1)},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert console.ready.provider.store.client("sa-etl") is None


def test_create_shows_the_secret_once_and_it_works(
    console: Console, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("debug", "json")
    capsys.readouterr()
    answer = console.post(PATH, {"name": "etl", "role": "viewer"})
    assert answer.status_code == 201 and answer.headers["cache-control"] == "no-store"
    secret = secret_of(answer.text)
    captured = capsys.readouterr()
    assert "/admin/service-accounts" in captured.out + captured.err
    assert secret not in captured.out + captured.err
    assert _grant(console, "sa-etl", secret) == 200
    listed = console.page(PATH).text
    assert secret not in listed
    assert rows(listed, "service-accounts")[0].startswith("etl sa-etl viewer active")
    account = console.ready.admin.service_accounts.get("etl")
    assert audited(console, "service_account.created", account.user_id) != []


def test_a_role_beyond_viewer_needs_roles_write(console: Console) -> None:
    answer = console.post(PATH, {"name": "boss", "role": "admin"}, role="integrator")
    assert answer.status_code == 403 and "roles.write" in answer.text
    assert console.ready.provider.store.client("sa-boss") is None
    assert console.post(PATH, {"name": "boss", "role": "admin"}).status_code == 201
    # Nor can the integrator take that account's roles by rotating its secret.
    answer = console.post("/admin/clients/sa-boss/secret", {"confirmed": "yes"}, role="integrator")
    assert answer.status_code == 403
    assert console.post(PATH, {"name": "ok", "role": "viewer"}, role="integrator").status_code == (
        201
    )


def test_invalid_input_is_named_on_its_field(console: Console) -> None:
    answer = console.post(PATH, {"name": "bad name", "role": "viewer"})
    assert answer.status_code == 400
    assert re.search(r'<input id="name"[^>]*aria-invalid="true"[^>]*autofocus', answer.text)
    answer = console.post(PATH, {"name": "etl", "access_token_lifetime": "5"})
    assert answer.status_code == 400
    assert re.search(r'<input id="access_token_lifetime"[^>]*aria-invalid="true"', answer.text)
    assert console.post(PATH, {"name": "etl"}).status_code == 201
    answer = console.post(PATH, {"name": "etl"})
    assert answer.status_code == 400 and "exists already" in answer.text


def test_delete_asks_first_then_disables_and_removes(console: Console) -> None:
    secret = secret_of(console.post(PATH, {"name": "etl"}).text)
    account = console.ready.admin.service_accounts.get("etl")
    asked = console.post(f"{PATH}/etl/delete")
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert _grant(console, "sa-etl", secret) == 200
    answer = console.post(f"{PATH}/etl/delete", {"confirmed": "yes"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=deleted")
    assert console.ready.provider.store.client("sa-etl") is None
    user = console.ready.storage.users.get(account.user_id)
    assert user is None or not user.active
    assert _grant(console, "sa-etl", secret) == 401
    assert audited(console, "service_account.deleted", account.user_id) != []
    assert console.post(f"{PATH}/etl/delete", {"confirmed": "yes"}).status_code == 404


def test_pages_of_fifty(console: Console) -> None:
    for n in range(55):
        console.ready.admin.service_accounts.create(ACTOR, f"job{n:02d}", "viewer")
    first = console.page(PATH)
    listed = rows(first.text, "service-accounts")
    link = re.search(r'href="(/admin/service-accounts\?cursor=[^"]+)" rel="next"', first.text)
    assert len(listed) == 50 and link
    second = rows(console.page(link.group(1)).text, "service-accounts")
    names = [r.split()[0] for r in listed + second]
    assert len(names) == len(set(names)) == 55
    assert console.page(PATH + "?cursor=!!").status_code == 400
