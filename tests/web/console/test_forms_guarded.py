"""Every console form is guarded: each POST route the app registers under /admin — whoever
added it — refuses a form without the session's CSRF token, a form with the token sent from
another site, and an operator without the administration permissions (a viewer), all 403.

The routes are read from the app, so a section added later is covered without a line here.
Path parameters get a dummy value ("1": it parses as an id of any type), and the form says
`confirmed=yes`, as the most dangerous form would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute

from tests.web.console.conftest import Console
from tests.web.test_pages import csrf

DUMMY = "1"


def _routes(routes: Iterable[Any]) -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route: FastAPI up to 0.1xx lists APIRoutes; later ones
    list each included router, whose effective routes carry the full path."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, set(route.methods)
        elif hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                methods = getattr(context.original_route, "methods", None) or set()
                yield context.path, set(methods)


def console_posts(console: Console) -> list[str]:
    """The paths of every POST route under /admin, parameters filled with `DUMMY`."""
    app = console.client.app
    paths = [
        re.sub(r"\{[^}]+\}", DUMMY, path)
        for path, methods in _routes(app.routes)  # type: ignore[attr-defined]
        if "POST" in methods and (path == "/admin" or path.startswith("/admin/"))
    ]
    return sorted(set(paths))


def test_the_walk_finds_the_console_forms(console: Console) -> None:
    found = console_posts(console)
    for path in ("/admin/clients", "/admin/keys/rotate", f"/admin/robots/{DUMMY}/revoke"):
        assert path in found


def test_every_console_post_refuses_a_form_without_the_token(console: Console) -> None:
    admin = console.as_role("admin")
    refused = {
        path: admin.post(
            path, data={"confirmed": "yes"}, headers={"accept": "text/html"}
        ).status_code
        for path in console_posts(console)
    }
    assert {path for path, status in refused.items() if status != 403} == set(), refused
    wrong = {
        path: admin.post(
            path,
            data={"confirmed": "yes", "csrf_token": "not-the-token"},
            headers={"accept": "text/html"},
        ).status_code
        for path in console_posts(console)
    }
    assert {path for path, status in wrong.items() if status != 403} == set(), wrong


def test_every_console_post_refuses_another_site_even_with_the_token(console: Console) -> None:
    admin = console.as_role("admin")
    token = csrf(admin.get("/account").text)
    refused = {
        path: admin.post(
            path,
            data={"confirmed": "yes", "csrf_token": token},
            headers={"accept": "text/html", "origin": "https://evil.example"},
        ).status_code
        for path in console_posts(console)
    }
    assert {path for path, status in refused.items() if status != 403} == set(), refused


def test_every_console_post_refuses_a_viewer(console: Console) -> None:
    refused = {
        path: console.post(path, {"confirmed": "yes"}, role="viewer").status_code
        for path in console_posts(console)
    }
    assert {path for path, status in refused.items() if status != 403} == set(), refused
