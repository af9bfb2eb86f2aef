"""Who a browser or client request is, for the audit log: the `Actor` with the request's
client address (behind trusted proxies), user agent and request id."""

from __future__ import annotations

from starlette.requests import Request

from authbridge.audit.events import Actor, ActorKind
from authbridge.web.security import client_address
from authbridge.web.services import Services

__all__ = ["request_actor"]

USER_AGENT_CHARS = 256


def request_actor(
    request: Request,
    services: Services,
    kind: ActorKind = "anonymous",
    id: str | None = None,
    name: str | None = None,
) -> Actor:
    return Actor(
        kind=kind,
        id=id,
        name=name,
        address=client_address(request, services.settings.server.trusted_proxies),
        user_agent=(request.headers.get("user-agent") or "")[:USER_AGENT_CHARS] or None,
        request_id=getattr(request.state, "request_id", None),
    )
