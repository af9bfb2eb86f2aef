"""`/api/v1/audit/events`: the audit log, newest first, filtered by actor, target, type and
time, a page at a time (permission `audit.read`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authbridge.admin.audit import MAX_FILTER_CHARS
from authbridge.admin.paging import MAX_CURSOR_CHARS, MAX_LIMIT, PageRequest
from authbridge.storage.audit import AuditRecord
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.camel import ApiModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["AuditEventList", "AuditEventOut", "router"]

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class ActorOut(ApiModel):
    kind: str = Field(description="user, service_account, robot, client, cli, scim, system, ...")
    id: str | None = None
    name: str | None = None
    address: str | None = Field(default=None, description="The client address.")
    user_agent: str | None = None
    request_id: str | None = None


class TargetOut(ApiModel):
    type: str
    id: str | None = None
    name: str | None = None


class AuditEventOut(ApiModel):
    id: str
    at: datetime
    type: str = Field(description="Dotted, subject first: `user.disabled`, `signin.failed`.")
    outcome: str = Field(description="success or failure")
    actor: ActorOut
    target: TargetOut | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEventOut:
        target = (
            TargetOut(type=record.target_type, id=record.target_id, name=record.target_name)
            if record.target_type is not None
            else None
        )
        return cls(
            id=str(record.id),
            at=record.at,
            type=record.type,
            outcome=record.outcome,
            actor=ActorOut(
                kind=record.actor_kind,
                id=record.actor_id,
                name=record.actor_name,
                address=record.address,
                user_agent=record.user_agent,
                request_id=record.request_id,
            ),
            target=target,
            details=dict(record.details),
        )


class AuditEventList(ApiModel):
    items: list[AuditEventOut]
    next_cursor: str | None = Field(default=None, description="Absent on the last page.")


@router.get(
    "/events",
    operation_id="listAuditEvents",
    summary="Query the audit log, newest first",
    response_model_by_alias=True,
    responses=problems(400),
)
async def list_audit_events(
    request: Request,
    _caller: Annotated[Caller, Permission("audit.read")],
    actor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER_CHARS,
            description="The actor's id (a user id, a client id, a SCIM source).",
        ),
    ] = None,
    target_type: Annotated[
        str | None, Query(alias="targetType", min_length=1, max_length=MAX_FILTER_CHARS)
    ] = None,
    target_id: Annotated[
        str | None, Query(alias="targetId", min_length=1, max_length=MAX_FILTER_CHARS)
    ] = None,
    type: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_FILTER_CHARS,
            description="An event type, or a prefix ending in '.' (`user.`).",
        ),
    ] = None,
    since: Annotated[datetime | None, Query(description="Inclusive, with a time zone.")] = None,
    until: Annotated[datetime | None, Query(description="Exclusive, with a time zone.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_CHARS)] = None,
) -> AuditEventList:
    admin = services_of(request).ready().admin
    page = PageRequest.of(limit, cursor)
    found = await run_in_threadpool(
        admin.audit_events.query,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        type=type,
        since=since,
        until=until,
        page=page,
    )
    return AuditEventList(
        items=[AuditEventOut.of(r) for r in found.items], next_cursor=found.next_cursor
    )
