"""Red team: every console route under /admin, with odd values in each path parameter,
query parameter and form field, answers a page (2xx-4xx), never a 500; and what it echoes
is escaped. The routes are read from the app, so a section added later is covered too."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from authbridge.audit.events import Actor
from authbridge.web.app import create_app
from authbridge.web.console import ROUTERS
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console
from tests.web.test_pages import csrf

ODD = [
    "A" * 2500,
    "\x00",
    "x\x00y",
    "\u202e💥ﬁ",
    "-1",
    "99999999999999999999999",
    "../../etc/passwd",
    "' OR 1=1 --",
    '<script>alert("x")</script>',
    "   ",
    "1e400",
    "10000-13-45T99:99:99+99:00",
    "\r\nSet-Cookie: a=b",
]
# Query names the console's lists read (a route that takes none ignores them).
QUERY = [
    "q", "team", "role", "source", "status", "cursor", "limit", "type", "actor",
    "target_type", "target_id", "outcome", "since", "until", "managed_by", "notice", "kind",
    "scope", "user", "client", "from", "to", "after", "before",
]  # fmt: skip
SCRIPT = re.compile(r"<script>alert", re.I)


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url))))


def _console_routes() -> list[APIRoute]:
    """Every section's routes (what the app mounts: `console.ROUTERS`)."""
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def _fill(path: str, value: str) -> str:
    from urllib.parse import quote

    return re.sub(r"\{[^}]+\}", lambda _: quote(value, safe=""), path)


def _form_fields(route: APIRoute) -> list[str]:
    names = [p.name for p in inspect.signature(route.endpoint).parameters.values()]
    return [n for n in names if n not in ("request", "services", "csrf_token")]


def _check(answer_status: int, text: str, what: str) -> None:
    assert answer_status < 500, f"{what}: {answer_status}"
    assert not SCRIPT.search(text), f"{what}: echoed unescaped"


def test_console_gets_never_fail_on_odd_input(console: Console) -> None:
    browser = console.as_role("admin")
    routes = [r for r in _console_routes() if "GET" in r.methods]
    assert len(routes) >= 15
    for route in routes:
        for value in ODD:
            path = _fill(route.path, value)
            answer = browser.get(path, params={name: value for name in QUERY})
            _check(answer.status_code, answer.text, f"GET {route.path} {value[:20]!r}")
            for name in QUERY:  # one at a time too: a bad one must not hide another
                one = browser.get(_fill(route.path, "x"), params={name: value})
                _check(one.status_code, one.text, f"GET {route.path}?{name}={value[:20]!r}")


def test_console_posts_never_fail_on_odd_input(console: Console) -> None:
    browser = console.as_role("admin")
    token = csrf(browser.get("/account").text)
    routes = [r for r in _console_routes() if "POST" in r.methods]
    assert len(routes) >= 20
    for route in routes:
        fields = _form_fields(route)
        for value in ODD:
            for confirmed in ("", "yes"):
                data = {f: value for f in fields} | {"csrf_token": token}
                if confirmed:
                    data["confirmed"] = confirmed
                answer = browser.post(_fill(route.path, value), data=data, follow_redirects=False)
                _check(answer.status_code, answer.text, f"POST {route.path} {value[:20]!r}")


def _real_ids(console: Console) -> dict[str, str]:
    """A live object for each kind of path parameter, so the odd values reach the forms."""
    ready = console.ready
    admin = ready.admin
    actor = Actor("cli", "fuzz")
    user = ready.storage.users.create(username="target@example.com", email="target@example.com")
    team = admin.teams.create("Fuzzers", actor=actor)
    admin.service_accounts.create(actor, "fuzz", "viewer")
    invitation = admin.invitations.create(actor, "invitee@example.com", teams=[], grants=[])
    binding, _ = admin.bindings.grant("viewer", team_id=team.id, actor=actor)
    return {
        "user_id": user.id,
        "team_id": team.id,
        "client_id": "sa-fuzz",
        "name": "fuzz",
        "invitation_id": invitation.invitation.id,
        "binding_id": str(binding.id),
        "connector_id": "mock",
        "source": "okta",
    }


def test_console_forms_of_live_objects_never_fail_on_odd_input(console: Console) -> None:
    ids = _real_ids(console)
    browser = console.as_role("admin")
    token = csrf(browser.get("/account").text)
    for route in _console_routes():
        path = re.sub(r"\{([^}]+)\}", lambda m: ids.get(m[1], "x"), route.path)
        if "GET" in route.methods:
            for value in ODD:
                answer = browser.get(path, params={name: value for name in QUERY})
                _check(answer.status_code, answer.text, f"GET {path} {value[:20]!r}")
            continue
        fields = [f for f in _form_fields(route) if f not in ids]
        for value in ODD:
            data = {f: value for f in fields} | {"csrf_token": token}
            if "delete" in path or "revoke" in path or path.endswith("/rotate"):
                data.pop("confirmed", None)  # keep the objects: the confirmation page only
            answer = browser.post(path, data=data, follow_redirects=False)
            _check(answer.status_code, answer.text, f"POST {path} {value[:20]!r}")
