"""`HotPathApp`: the app whose hot paths (the token endpoint, JWKS, discovery) skip the
layers they do not use.

Every grant and every key fetch went through FastAPI's whole stack: its server-error,
telemetry and body-limit layers, our middleware, its exception and exit-stack layers, the
router's matching, the route. Each layer is a coroutine frame that every suspension of the
request (reading the body, each send, a statement awaited on the loop) passes through
twice, so depth costs on every await, not once per request. `bench/bench_token.py
--profile` put the layers between the server and `TokenEndpoint` at about a fifth of a
grant's CPU on the event loop.

The hot paths get a stack of their own, built once at start-up from the same parts, with
the same arguments: the server-error layer with the app's 500 handler, every middleware of
the app in its order (observability, the public documents, the body limit; tracing when it
is on), the exception layer with the app's handlers (a database that is down still answers
503), then the endpoint itself. What the hot paths do not use is left out: the router's
matching (a dictionary lookup by path instead), the exit stack (no file, no dependency
with `yield`), FastAPI's telemetry and body-limit layers (both off here: no native
telemetry, no `max_body_size`; `web/limits.py` bounds bodies). A hot path's other method
(GET on the token endpoint, a document not in memory yet) goes on to the router, as before.

With tracing on (`web/telemetry.py`), the app has no hot paths: OpenTelemetry's FastAPI
instrumentation wraps the one stack it finds, and a span per request is worth more there
than the layers' CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HotPathApp", "HotRoute"]


class HotRoute:
    """A route served by the hot stack: `route`'s endpoint for its methods."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.endpoint: ASGIApp = route.app
        self.methods = frozenset(route.methods or ())


class _HotEndpoints:
    """The innermost layer of the hot stack: a hot route's endpoint, else the router."""

    def __init__(self, routes: Mapping[str, HotRoute], fallback: ASGIApp) -> None:
        self.routes = dict(routes)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.routes.get(scope["path"])
        if hot is not None and scope["method"] in hot.methods:
            scope["route"] = hot.route  # what the router would set (the metrics' label)
            scope["endpoint"] = hot.endpoint
            scope["path_params"] = {}
            await hot.endpoint(scope, receive, send)
            return
        await self.fallback(scope, receive, send)


class _Front:
    """Each HTTP request on a hot path to the hot stack, every other to the app's own."""

    def __init__(self, paths: frozenset[str], hot: ASGIApp, full: ASGIApp) -> None:
        self.paths = paths
        self.hot = hot
        self.full = full

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.hot(scope, receive, send)
        else:
            await self.full(scope, receive, send)


class HotPathApp(FastAPI):
    """FastAPI with `hot_routes` (served by an endpoint of their own, see `HotRoute`) and
    `hot_paths` (paths a middleware answers itself, such as the public documents) on the
    short stack of the module docstring."""

    hot_routes: tuple[Route, ...] = ()
    hot_paths: frozenset[str] = frozenset()

    def build_middleware_stack(self) -> ASGIApp:
        full = super().build_middleware_stack()
        routes = {route.path: HotRoute(route) for route in self.hot_routes}
        paths = frozenset(routes) | self.hot_paths
        if not paths:
            return full
        error_handler: Any = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        app: ASGIApp = _HotEndpoints(routes, AsyncExitStackMiddleware(self.router))
        app = ExceptionMiddleware(app, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        app = ServerErrorMiddleware(app, handler=error_handler, debug=self.debug)
        return _Front(paths, app, full)
