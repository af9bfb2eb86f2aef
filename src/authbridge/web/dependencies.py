"""The one dependency every route gets its services through.

`create_app` builds one `Services` at start-up and stores it on the app; routes take it as
`services: ServicesDep` (or call `services_of(request)` from a helper that has only the
request). Nothing else is cached on the app or in a module: the OpenID Provider, the SCIM
services and the revocation are fields of `Services.ready()`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from authbridge.provider.service import OpenIDProvider
from authbridge.web.services import Services

__all__ = ["ServicesDep", "provider_for", "services_of"]


def services_of(request: Request) -> Services:
    """The services `create_app` built for this app."""
    services: Services = request.app.state.services
    return services


def provider_for(request: Request) -> OpenIDProvider:
    """The OpenID Provider built with storage (503 while storage is not up)."""
    return services_of(request).ready().provider


async def _services_dependency(request: Request) -> Services:
    # Async so that FastAPI calls it on the event loop: a sync dependency would cost every
    # request a hop to the thread pool (measured on the sign-in path).
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services_dependency)]
