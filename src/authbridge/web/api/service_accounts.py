"""`/api/v1/service-accounts`: programs that get tokens with client_credentials (RFC 6749
§4.4) as a non-person principal (permissions `clients.read`, `clients.write`). The client
secret appears once, in the response that created the account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import Field
from starlette.requests import Request

from authbridge.admin.paging import PageRequest
from authbridge.admin.service_accounts import ServiceAccount
from authbridge.web.api.auth import Caller, Permission, demand_roles
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.clients import Cursor, Limit
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["ServiceAccountOut", "router"]

router = APIRouter(prefix="/api/v1/service-accounts", tags=["service accounts"])


class ServiceAccountOut(ApiModel):
    name: str
    client_id: str
    user_id: str
    roles: list[str]
    active: bool
    access_token_lifetime: int | None
    created_at: datetime | None

    @classmethod
    def of(cls, account: ServiceAccount) -> ServiceAccountOut:
        return cls(
            name=account.name,
            client_id=account.client_id,
            user_id=account.user_id,
            roles=list(account.roles),
            active=account.active,
            access_token_lifetime=account.access_token_lifetime,
            created_at=account.created_at,
        )


class ServiceAccountList(ApiModel):
    items: list[ServiceAccountOut]
    next_cursor: str | None


class ServiceAccountCreated(ServiceAccountOut):
    client_secret: str = Field(description="Shown in this response only.")


class ServiceAccountIn(RequestModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")
    role: str = Field(default="viewer", min_length=1, max_length=128)
    access_token_lifetime: int | None = Field(default=None, ge=60, le=86400)


@router.get("", operation_id="listServiceAccounts", summary="List service accounts")
async def list_service_accounts(
    request: Request,
    _caller: Annotated[Caller, Permission("clients.read")],
    limit: Limit = None,
    cursor: Cursor = None,
) -> ServiceAccountList:
    admin = services_of(request).ready().admin
    page = admin.service_accounts.list(PageRequest.of(limit, cursor))
    return ServiceAccountList(
        items=[ServiceAccountOut.of(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="createServiceAccount",
    summary="Create a service account (its secret is shown once)",
    status_code=201,
    responses=problems(409),
)
async def create_service_account(
    body: ServiceAccountIn,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("clients.write")],
) -> ServiceAccountCreated:
    demand_roles(request, caller, [body.role], "a service account with a role")
    created = (
        services_of(request)
        .ready()
        .admin.service_accounts.create(
            caller.actor, body.name, body.role, access_token_lifetime=body.access_token_lifetime
        )
    )
    response.headers["location"] = f"{router.prefix}/{created.account.name}"
    response.headers["cache-control"] = "no-store"
    out = ServiceAccountOut.of(created.account)
    return ServiceAccountCreated(**out.model_dump(), client_secret=created.secret)


@router.get(
    "/{name}",
    operation_id="getServiceAccount",
    summary="Get a service account",
    responses=problems(404),
)
async def get_service_account(
    name: str, request: Request, _caller: Annotated[Caller, Permission("clients.read")]
) -> ServiceAccountOut:
    return ServiceAccountOut.of(services_of(request).ready().admin.service_accounts.get(name))


@router.delete(
    "/{name}",
    operation_id="deleteServiceAccount",
    summary="Disable a service account, revoke its tokens and remove its client",
    status_code=204,
    response_class=Response,
    responses=problems(404),
)
async def delete_service_account(
    name: str, request: Request, caller: Annotated[Caller, Permission("clients.write")]
) -> Response:
    services_of(request).ready().admin.service_accounts.delete(caller.actor, name)
    return Response(status_code=204)
