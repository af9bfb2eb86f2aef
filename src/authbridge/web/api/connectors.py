"""`/api/v1/connectors`: the upstream IdPs, the redirect URI to register at each, and each
one's status from what authbridge already knows (permission `connectors.read`). Reading
never probes an IdP: a connector nobody has used since the start is `unknown`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.requests import Request

from authbridge.admin.connectors import ConnectorView
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.camel import ApiModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["ConnectorOut", "router"]

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"])


class StatusOut(ApiModel):
    status: Literal["ok", "failing", "unknown"]
    checked_at: datetime | None = Field(description="When the last call or failure was seen.")
    last_error: str | None = Field(
        description="The last failure's kind (timeout, unreachable, http_5xx, idp_*)."
    )
    last_error_at: datetime | None


class ConnectorOut(ApiModel):
    id: str
    type: str
    display_name: str
    enabled: bool
    redirect_uri: str = Field(
        description="The redirect URI to register at the IdP (empty for an LDAP directory)."
    )
    status: StatusOut

    @classmethod
    def of(cls, view: ConnectorView) -> ConnectorOut:
        s = view.status
        return cls(
            id=view.id,
            type=view.type,
            display_name=view.display_name,
            enabled=view.enabled,
            redirect_uri=view.redirect_uri,
            status=StatusOut(
                status=s.status,
                checked_at=s.checked_at,
                last_error=s.last_error,
                last_error_at=s.last_error_at,
            ),
        )


class ConnectorList(ApiModel):
    items: list[ConnectorOut]
    next_cursor: str | None = Field(default=None, description="Always null: from configuration.")


@router.get("", operation_id="listConnectors", summary="List connectors")
async def list_connectors(
    request: Request, _caller: Annotated[Caller, Permission("connectors.read")]
) -> ConnectorList:
    admin = services_of(request).ready().admin
    return ConnectorList(items=[ConnectorOut.of(v) for v in admin.connectors.list()])


@router.get(
    "/{connectorId}",
    operation_id="getConnector",
    summary="Get a connector",
    responses=problems(404),
)
async def get_connector(
    connector_id: Annotated[str, Path(alias="connectorId", max_length=64)],
    request: Request,
    _caller: Annotated[Caller, Permission("connectors.read")],
) -> ConnectorOut:
    return ConnectorOut.of(services_of(request).ready().admin.connectors.get(connector_id))
