"""web/app.py: the token endpoint's routes are tried first (the hot path), which is only
behaviour-neutral while no other module's route matches one of their requests."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import BaseRoute, Match

from authbridge.web import api, console, oauth_routes, ops
from authbridge.web import app as web_app


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def _requests(route: BaseRoute) -> list[dict[str, object]]:
    path = getattr(route, "path", None)
    methods = getattr(route, "methods", None) or {"GET"}
    if path is None:
        return []
    return [
        {"type": "http", "path": _concrete(path), "method": m, "root_path": ""} for m in methods
    ]


def test_the_token_routes_share_no_request_with_any_other_route() -> None:
    others: list[BaseRoute] = [*ops.health_router.routes, *ops.metrics_router.routes]
    source = Path(web_app.__file__).read_text()
    for name in re.findall(r"^\s{8}(\w+),$", source, re.M):
        module = getattr(web_app, name, None)
        if module is not None and module is not oauth_routes and hasattr(module, "router"):
            others += module.router.routes
    for router in (*api.ROUTERS, *console.ROUTERS):
        others += router.routes
    assert len(others) > 100
    for ours in oauth_routes.router.routes:
        for other in others:
            for scope in _requests(ours):
                assert other.matches(scope)[0] == Match.NONE, (scope, other)
            for scope in _requests(other):
                assert ours.matches(scope)[0] == Match.NONE, (scope, ours)
