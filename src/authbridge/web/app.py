"""The ASGI application: routes, middleware, error handling, start-up and shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from authbridge import __version__
from authbridge.config.model import Settings
from authbridge.web import (
    device_routes,
    errors,
    oauth_client_routes,
    oauth_routes,
    ops,
    pages,
    revocation_feed,
    scim_routes,
    wellknown,
)
from authbridge.web.limits import BodyLimitMiddleware, FormLimits, RouteLimit
from authbridge.web.observability import ObservabilityMiddleware
from authbridge.web.security import SecurityHeadersMiddleware
from authbridge.web.services import PublishedDocument, Services

__all__ = ["create_app"]


def create_app(settings: Settings, *, services: Services | None = None) -> FastAPI:
    """Build the app. Storage comes up at start-up (in the background if the database is down)."""
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.stop()

    app = FastAPI(
        title="authbridge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    services.discovery = PublishedDocument.of(wellknown.discovery_document(services))
    app.state.services = services
    app.state.scim_endpoints = scim_routes.endpoints_for(services)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    route_modules = (
        ops,
        wellknown,
        revocation_feed,
        pages,
        oauth_routes,
        device_routes,
        scim_routes,
        oauth_client_routes,
    )
    for module in route_modules:
        app.include_router(module.router)
    errors.install(app)
    server = settings.server
    app.add_middleware(
        BodyLimitMiddleware,
        default_max_bytes=server.max_request_bytes,
        form=FormLimits(server.max_form_fields, server.max_form_field_bytes),
        routes=[
            RouteLimit(
                scim_routes.PATH_ROOT, settings.scim.max_request_bytes, scim_routes.too_large
            )
        ],
    )
    app.add_middleware(SecurityHeadersMiddleware, https=settings.server.https)
    app.add_middleware(ObservabilityMiddleware, metrics=services.metrics)
    return app
