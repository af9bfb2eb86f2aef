"""`/api/v1/clients`: OAuth clients (permissions `clients.read`, `clients.write`).

Config-file and built-in clients are listed and read but refused on writes (409 read-only,
`managedBy: "config"`). A confidential client's secret appears once, in the response that
created or rotated it. Rotation keeps the old secret valid until `previousSecretExpiresAt`
(zero-downtime: RFC 6749 §2.3.1 client authentication accepts either until then).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import Field
from starlette.requests import Request

from authbridge.admin.clients import (
    DEFAULT_PREVIOUS_SECRET_SECONDS,
    ClientChanges,
    client_version,
)
from authbridge.admin.paging import MAX_LIMIT, PageRequest
from authbridge.provider.clients import Client
from authbridge.provider.service import MAX_PREVIOUS_SECRET_SECONDS
from authbridge.web.api.auth import Caller, Permission, demand_roles
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.api.preconditions import etag, if_match
from authbridge.web.dependencies import services_of

__all__ = ["ClientOut", "Cursor", "Limit", "router"]

router = APIRouter(prefix="/api/v1/clients", tags=["clients"])

# No control characters or spaces: PostgreSQL refuses NUL, and no URI or id has the others.
URI = Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
TEXT = Annotated[str, Field(max_length=256, pattern=r"^[^\x00-\x1f\x7f]*$")]
GRANT = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
CONNECTOR = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
LIFETIME = Annotated[int, Field(ge=60, le=366 * 86400)]
ACCESS_LIFETIME = Annotated[int, Field(ge=60, le=86400)]
Limit = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`nextCursor` of the previous page.")
]


class ClientOut(ApiModel):
    client_id: str
    name: str
    public: bool
    source: Literal["config", "builtin", "database"] = Field(
        description="Where it is defined; only `database` clients can be changed here."
    )
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    allowed_connectors: list[str]
    access_token_lifetime: int | None
    refresh_token_lifetime: int
    refresh_token_idle_timeout: int
    service_account: bool = Field(description="A service account's client_credentials client.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation is still accepted."
    )
    created_at: datetime | None

    @classmethod
    def of(cls, client: Client, now: datetime | None = None) -> ClientOut:
        expires = client.previous_secret_expires_at
        if now is not None and client.previous_secret_live(now) is None:
            expires = None
        return cls(
            client_id=client.client_id,
            name=client.name,
            public=client.public,
            source=client.source,
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            grant_types=list(client.grant_types),
            allowed_connectors=list(client.allowed_connectors),
            access_token_lifetime=client.access_token_lifetime,
            refresh_token_lifetime=client.refresh_token_lifetime,
            refresh_token_idle_timeout=client.refresh_token_idle_timeout,
            service_account=client.service_user_id is not None,
            previous_secret_expires_at=expires,
            created_at=client.created_at,
        )


class ClientList(ApiModel):
    items: list[ClientOut]
    next_cursor: str | None


class ClientCreated(ClientOut):
    client_secret: str | None = Field(
        description="A confidential client's secret: shown in this response only."
    )


class ClientIn(RequestModel):
    client_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    name: TEXT = ""
    public: bool = False
    redirect_uris: list[URI] = Field(default_factory=list, max_length=50)
    post_logout_redirect_uris: list[URI] = Field(default_factory=list, max_length=50)
    grant_types: list[GRANT] = Field(
        default_factory=lambda: ["authorization_code", "refresh_token"], max_length=5
    )
    allowed_connectors: list[CONNECTOR] = Field(default_factory=list, max_length=50)
    access_token_lifetime: ACCESS_LIFETIME | None = None
    refresh_token_lifetime: LIFETIME = 30 * 86400
    refresh_token_idle_timeout: LIFETIME = 7 * 86400


class ClientPatch(RequestModel):
    """Fields to change; absent ones stay. `accessTokenLifetime: null` returns to the
    server's default."""

    name: TEXT | None = None
    redirect_uris: list[URI] | None = Field(default=None, max_length=50)
    post_logout_redirect_uris: list[URI] | None = Field(default=None, max_length=50)
    grant_types: list[GRANT] | None = Field(default=None, max_length=5)
    allowed_connectors: list[CONNECTOR] | None = Field(default=None, max_length=50)
    access_token_lifetime: ACCESS_LIFETIME | None = None
    refresh_token_lifetime: LIFETIME | None = None
    refresh_token_idle_timeout: LIFETIME | None = None

    def changes(self) -> ClientChanges:
        def tup(value: list[str] | None) -> tuple[str, ...] | None:
            return tuple(value) if value is not None else None

        return ClientChanges(
            name=self.name,
            redirect_uris=tup(self.redirect_uris),
            post_logout_redirect_uris=tup(self.post_logout_redirect_uris),
            grant_types=tup(self.grant_types),
            allowed_connectors=tup(self.allowed_connectors),
            access_token_lifetime=self.access_token_lifetime,
            clear_access_token_lifetime=(
                "access_token_lifetime" in self.model_fields_set
                and self.access_token_lifetime is None
            ),
            refresh_token_lifetime=self.refresh_token_lifetime,
            refresh_token_idle_timeout=self.refresh_token_idle_timeout,
        )


class SecretRotation(RequestModel):
    previous_secret_expires_in: int = Field(
        default=DEFAULT_PREVIOUS_SECRET_SECONDS,
        ge=0,
        le=MAX_PREVIOUS_SECRET_SECONDS,
        description="Seconds the replaced secret stays accepted (0: refused at once).",
    )


class SecretRotated(ApiModel):
    client_id: str
    client_secret: str = Field(description="The new secret: shown in this response only.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the replaced secret is accepted; null: refused already."
    )


@router.get("", operation_id="listClients", summary="List OAuth clients")
async def list_clients(
    request: Request,
    _caller: Annotated[Caller, Permission("clients.read")],
    limit: Limit = None,
    cursor: Cursor = None,
) -> ClientList:
    ready = services_of(request).ready()
    page = ready.admin.clients.list(PageRequest.of(limit, cursor))
    now = ready.provider.clock()
    return ClientList(
        items=[ClientOut.of(c, now) for c in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/{client_id}", operation_id="getClient", summary="Get a client", responses=problems(404)
)
async def get_client(
    client_id: str,
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Permission("clients.read")],
) -> ClientOut:
    ready = services_of(request).ready()
    client = ready.admin.clients.get(client_id)
    response.headers["etag"] = etag(client_version(client))
    return ClientOut.of(client, ready.provider.clock())


@router.post(
    "",
    operation_id="createClient",
    summary="Register a client (its secret is shown once)",
    status_code=201,
    responses=problems(409),
)
async def create_client(
    body: ClientIn,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("clients.write")],
) -> ClientCreated:
    client = Client(
        client_id=body.client_id,
        name=body.name or body.client_id,
        public=body.public,
        redirect_uris=tuple(body.redirect_uris),
        post_logout_redirect_uris=tuple(body.post_logout_redirect_uris),
        grant_types=tuple(body.grant_types),
        allowed_connectors=tuple(body.allowed_connectors),
        access_token_lifetime=body.access_token_lifetime,
        refresh_token_lifetime=body.refresh_token_lifetime,
        refresh_token_idle_timeout=body.refresh_token_idle_timeout,
        source="database",
    )
    created = services_of(request).ready().admin.clients.create(caller.actor, client)
    response.headers["location"] = f"{router.prefix}/{created.client.client_id}"
    response.headers["etag"] = etag(client_version(created.client))
    response.headers["cache-control"] = "no-store"  # the secret
    out = ClientOut.of(created.client)
    return ClientCreated(**out.model_dump(), client_secret=created.secret)


@router.patch(
    "/{client_id}",
    operation_id="updateClient",
    summary="Change a registered client (If-Match required)",
    responses=problems(404, 409, 412, 428),
)
async def update_client(
    client_id: str,
    body: ClientPatch,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("clients.write")],
) -> ClientOut:
    ready = services_of(request).ready()
    client = ready.admin.clients.update(caller.actor, client_id, body.changes(), if_match(request))
    response.headers["etag"] = etag(client_version(client))
    return ClientOut.of(client, ready.provider.clock())


@router.delete(
    "/{client_id}",
    operation_id="deleteClient",
    summary="Remove a registered client and revoke its grants",
    status_code=204,
    response_class=Response,
    responses=problems(404, 409),
)
async def delete_client(
    client_id: str, request: Request, caller: Annotated[Caller, Permission("clients.write")]
) -> Response:
    services_of(request).ready().admin.clients.delete(caller.actor, client_id)
    return Response(status_code=204)


@router.post(
    "/{client_id}/secret",
    operation_id="rotateClientSecret",
    summary="Rotate a client's secret; the old one stays valid until its expiry",
    responses=problems(404, 409),
)
async def rotate_client_secret(
    client_id: str,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("clients.write")],
    body: Annotated[SecretRotation | None, Body()] = None,
) -> SecretRotated:
    expires_in = (body or SecretRotation()).previous_secret_expires_in
    ready = services_of(request).ready()
    client = ready.provider.store.client(client_id)
    if client is not None and client.service_user_id:
        # A service account's new secret is its roles: handing it out is granting them.
        roles = ready.bindings.held_roles(client.service_user_id)
        demand_roles(request, caller, roles, "a new secret for a service account with a role")
    rotated = (
        services_of(request)
        .ready()
        .admin.clients.rotate_secret(caller.actor, client_id, expires_in)
    )
    response.headers["cache-control"] = "no-store"
    return SecretRotated(
        client_id=client_id,
        client_secret=rotated.secret,
        previous_secret_expires_at=rotated.previous_expires_at,
    )
