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
    account_mfa_pages,
    account_pages,
    api,
    authz_routes,
    branding_routes,
    console,
    device_routes,
    email_pages,
    errors,
    invitation_pages,
    ldap_routes,
    mfa_pages,
    oauth_client_routes,
    oauth_routes,
    ops,
    pages,
    passkey_pages,
    revocation_feed,
    saml_routes,
    scim_routes,
    wellknown,
)
from authbridge.web.api import auth as api_auth
from authbridge.web.api import problems as api_problems
from authbridge.web.hot_paths import HotPathApp
from authbridge.web.limits import BodyLimitMiddleware, FormLimits, RouteLimit
from authbridge.web.observability import ObservabilityMiddleware
from authbridge.web.security import security_headers
from authbridge.web.services import PublishedDocument, Services
from authbridge.web.telemetry import NO_NATIVE_TELEMETRY

__all__ = ["create_app", "create_management_app"]


def create_app(settings: Settings, *, services: Services | None = None) -> FastAPI:
    """Build the app. Storage comes up at start-up (in the background if the database is down)."""
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.stop()

    app = HotPathApp(
        title="authbridge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=NO_NATIVE_TELEMETRY,
    )
    services.discovery = PublishedDocument.of(wellknown.discovery_document(services))
    app.state.services = services
    app.state.scim_endpoints = scim_routes.endpoints_for(services)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )
    app.router.routes.insert(0, oauth_routes.TOKEN_ROUTE)  # first: the hot path
    if services.tracing is None:
        # The token endpoint and the public documents on the short stack (web/hot_paths.py);
        # with tracing on, every request goes through the one stack its instrumentation wraps.
        app.hot_routes = (oauth_routes.TOKEN_ROUTE,)
        app.hot_paths = wellknown.PUBLIC_DOCUMENT_PATHS
    if settings.server.management_port is None:
        app.include_router(ops.metrics_router)
    # The router tries included routers in order, each by matching its routes: the token
    # endpoint (the hot path: every grant) comes first. No two modules serve one path.
    route_modules = (
        oauth_routes,
        wellknown,
        revocation_feed,
        pages,
        invitation_pages,
        email_pages,
        account_pages,
        device_routes,
        scim_routes,
        oauth_client_routes,
        authz_routes,
        branding_routes,
        mfa_pages,
        account_mfa_pages,
        ldap_routes,
        saml_routes,
        passkey_pages,
    )
    app.include_router(ops.health_router)
    for module in route_modules:
        app.include_router(module.router)
    app.state.api_routers = api.ROUTERS  # what /api/v1/openapi.json describes
    for api_router in api.ROUTERS:
        app.include_router(api_router)
    for console_router in console.ROUTERS:
        app.include_router(console_router)
    errors.install(app)
    console.install(app)
    # After errors.install: it wraps the page handlers for /api/v1/.
    api_problems.install(app, authenticate=api_auth.authenticated)
    server = settings.server
    app.add_middleware(
        BodyLimitMiddleware,
        default_max_bytes=server.max_request_bytes,
        form=FormLimits(server.max_form_fields, server.max_form_field_bytes),
        routes=[
            RouteLimit(
                scim_routes.PATH_ROOT, settings.scim.max_request_bytes, scim_routes.too_large
            ),
            RouteLimit(api_problems.API_PATH, server.max_request_bytes, api_problems.too_large),
        ],
    )
    # Inside the observability layer, which adds the security headers: they apply to its
    # answers (and the body limit's) too.
    app.add_middleware(wellknown.PublicDocuments, services=services)
    tracing = services.tracing
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=services.metrics,
        tag=tracing.tag_request if tracing is not None else None,
        headers=security_headers(https=settings.server.https),
    )
    if tracing is not None:
        tracing.instrument_app(app)  # outermost: the request's span covers everything
    return app


def create_management_app(services: Services) -> FastAPI:
    """The management listener's app (`server.managementPort`): /healthz, /readyz and
    /metrics over the public app's `Services`. No lifespan (the public app's starts and
    stops the services), no access log and no latency samples (probes every few seconds
    would drown both)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_NATIVE_TELEMETRY)
    app.state.services = services
    app.include_router(ops.health_router)
    app.include_router(ops.metrics_router)
    return app
