"""`/api/v1/scim/sources`: SCIM provisioning sources and their credentials (permissions
`scim.read`, `scim.write`). A new credential's secret is in the 201 answer only; a
zero-downtime rotation is POST (a second credential), switch the IdP, DELETE the first
(`retireAfter` leaves the IdP time to switch)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from authbridge.admin.scim_credentials import MAX_RETIRE_AFTER, SourceSummary, state_of
from authbridge.clock import utcnow
from authbridge.scim.credentials import Issued, Known
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/scim/sources", tags=["scim"])

Source = Annotated[str, Path(max_length=32)]
CredentialId = Annotated[str, Path(alias="credentialId", max_length=36)]


class SourceOut(ApiModel):
    source: str
    scheme: Literal["basic", "bearer"] = Field(description="basic (Okta) or bearer (Entra ID).")
    enabled: bool = Field(description="At least one credential is active.")
    credential_count: int = Field(description="Active credentials.")
    last_activity_at: datetime | None = Field(
        description="The last authenticated SCIM request (to the minute), if any."
    )

    @classmethod
    def of(cls, summary: SourceSummary) -> SourceOut:
        return cls(
            source=summary.source,
            scheme="basic" if summary.scheme == "basic" else "bearer",
            enabled=summary.enabled,
            credential_count=summary.credential_count,
            last_activity_at=summary.last_activity_at,
        )


class SourceList(ApiModel):
    items: list[SourceOut]
    next_cursor: str | None = None


class CredentialOut(ApiModel):
    id: str = Field(description="`env` for the environment's (SCIM_AUTH_CODE_<SOURCE>).")
    source: str
    kind: Literal["basic", "bearer"]
    username: str | None = Field(description="The HTTP Basic username (basic only).")
    state: Literal["active", "retiring", "retired", "expired"]
    from_environment: bool
    created_at: datetime | None = Field(description="Unknown (null) for the environment's.")
    created_by: str | None
    expires_at: datetime | None
    retired_at: datetime | None = Field(description="In the future while `retiring`.")
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")

    @classmethod
    def of(cls, credential: Known) -> CredentialOut:
        return cls(
            id=credential.id,
            source=credential.source,
            kind=credential.scheme,
            username=credential.username,
            state=state_of(credential, utcnow()),
            from_environment=credential.from_env,
            created_at=credential.created_at,
            created_by=credential.created_by,
            expires_at=credential.expires_at,
            retired_at=credential.retired_at,
            last_used_at=credential.last_used_at,
        )


class CredentialList(ApiModel):
    items: list[CredentialOut]
    next_cursor: str | None = Field(
        default=None, description="Always null: a source holds a handful of credentials."
    )


class CredentialIn(RequestModel):
    username: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._@-]{1,64}$",
        description="Basic sources only; generated when absent.",
    )
    expires_at: AwareDatetime | None = Field(default=None, description="In the future.")


class IssuedOut(CredentialOut):
    """The new credential and its secret: this answer is the only place it appears."""

    password: str | None = Field(description="Basic: the password to enter at the IdP.")
    token: str | None = Field(description="Bearer: the token to enter at the IdP.")

    @classmethod
    def of_issued(cls, issued: Issued) -> IssuedOut:
        base = CredentialOut.of(issued.credential).model_dump()
        return cls(**base, password=issued.password, token=issued.token)


@router.get("", operation_id="listScimSources", summary="List SCIM sources")
async def list_sources(
    request: Request, _caller: Annotated[Caller, Permission("scim.read")]
) -> SourceList:
    admin = services_of(request).ready().admin
    summaries = await run_in_threadpool(admin.scim_credentials.sources)
    return SourceList(items=[SourceOut.of(s) for s in summaries])


@router.get(
    "/{source}/credentials",
    operation_id="listScimCredentials",
    summary="List a source's credentials",
    responses=problems(404),
)
async def list_credentials(
    source: Source, request: Request, _caller: Annotated[Caller, Permission("scim.read")]
) -> CredentialList:
    admin = services_of(request).ready().admin
    known = await run_in_threadpool(admin.scim_credentials.list, source)
    return CredentialList(items=[CredentialOut.of(k) for k in known])


@router.post(
    "/{source}/credentials",
    operation_id="addScimCredential",
    summary="Generate a credential (its secret is answered once)",
    status_code=201,
    responses=problems(404, 409),
)
async def add_credential(
    source: Source,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("scim.write")],
    body: CredentialIn | None = None,
) -> IssuedOut:
    admin = services_of(request).ready().admin
    body = body or CredentialIn()
    issued = await run_in_threadpool(
        lambda: admin.scim_credentials.add(
            source, actor=caller.actor, username=body.username, expires_at=body.expires_at
        )
    )
    credential_id = issued.credential.id
    response.headers["location"] = f"/api/v1/scim/sources/{source}/credentials/{credential_id}"
    # RFC 9111 §5.2.2.5: the secret must not be kept by any cache.
    response.headers["cache-control"] = "no-store"
    return IssuedOut.of_issued(issued)


@router.get(
    "/{source}/credentials/{credentialId}",
    operation_id="getScimCredential",
    summary="Get a credential (never its secret)",
    responses=problems(404),
)
async def get_credential(
    source: Source,
    credential_id: CredentialId,
    request: Request,
    _caller: Annotated[Caller, Permission("scim.read")],
) -> CredentialOut:
    admin = services_of(request).ready().admin
    known = await run_in_threadpool(admin.scim_credentials.get, source, credential_id)
    return CredentialOut.of(known)


@router.delete(
    "/{source}/credentials/{credentialId}",
    operation_id="retireScimCredential",
    summary="Retire a credential, now or after retireAfter seconds",
    status_code=204,
    responses=problems(404, 409),
)
async def retire_credential(
    source: Source,
    credential_id: CredentialId,
    request: Request,
    caller: Annotated[Caller, Permission("scim.write")],
    retire_after: Annotated[
        int,
        Query(
            alias="retireAfter",
            ge=0,
            le=MAX_RETIRE_AFTER,
            description="Seconds the credential stays valid (the IdP's switch-over).",
        ),
    ] = 0,
    force: Annotated[
        bool, Query(description="Retire even the last active credential (stops provisioning).")
    ] = False,
) -> Response:
    admin = services_of(request).ready().admin
    await run_in_threadpool(
        lambda: admin.scim_credentials.retire(
            source, credential_id, actor=caller.actor, retire_after=retire_after, force=force
        )
    )
    return Response(status_code=204)
