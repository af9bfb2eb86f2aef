"""`/api/v1/users`: people (search, create local, get, merge-patch, disable/enable, delete,
revoke, password-reset link) and what each holds: browser sessions, refresh-token families,
identity links.

Glue only: every act is `admin.users` (`authbridge.admin.users.UserAdmin`), the function the
CLI calls too. Reads need `users.read`, writes `users.write`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field

from authbridge.admin.paging import PageRequest
from authbridge.admin.users import RefreshTokenFamily, UserAdmin, UserRow, user_filter
from authbridge.storage.models import BrowserSession, Identity
from authbridge.storage.user_admin import session_handle
from authbridge.web.api.auth import BASE_ROLE, Caller, Permission, demand_roles
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.api.preconditions import etag, if_match
from authbridge.web.dependencies import services_of

__all__ = [
    "IdentityOut",
    "RefreshTokenOut",
    "SessionOut",
    "UserCreate",
    "UserList",
    "UserOut",
    "UserPatch",
    "router",
]

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserId = Annotated[str, Path(max_length=64, description="The user's id.")]
Read = Annotated[Caller, Permission("users.read")]
Write = Annotated[Caller, Permission("users.write")]


class UserOut(ApiModel):
    id: str
    username: str
    email: str | None
    email_verified: bool
    display_name: str | None
    active: bool
    managed_by: str | None = Field(
        description="`scim:<source>` when a SCIM source provisions this user (its name and "
        "email are changed there); null otherwise."
    )
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: UserRow) -> UserOut:
        user = row.user
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            email_verified=bool(user.email_verified),
            display_name=user.name,
            active=bool(user.active),
            managed_by=row.managed_by,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
        )


class UserList(ApiModel):
    items: list[UserOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class UserCreate(RequestModel):
    email: str = Field(max_length=320, description="Also the username.")
    password: str = Field(max_length=1024, description="Checked as at sign-up; never echoed.")
    display_name: str | None = Field(default=None, max_length=256)
    role: str | None = Field(
        default=None, max_length=64, description="A system-scope role; default viewer."
    )


class UserPatch(RequestModel):
    """RFC 7396: members present are changed; `displayName: null` removes the name."""

    display_name: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320, description="Local accounts only.")
    active: bool | None = None

    def members(self) -> dict[str, Any]:
        """The members the patch names, by their API names (absent ≠ null, RFC 7396 §2)."""
        return {
            type(self).model_fields[name].alias or name: getattr(self, name)
            for name in self.model_fields_set
        }


class SessionOut(ApiModel):
    id: str = Field(description="A handle for this session (not its cookie).")
    auth_method: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None
    user_agent: str | None

    @classmethod
    def of(cls, row: BrowserSession) -> SessionOut:
        return cls(
            id=session_handle(row.id_hash),
            auth_method=row.auth_method,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            address=row.client_address,
            user_agent=row.user_agent,
        )


class SessionList(ApiModel):
    items: list[SessionOut]


class RefreshTokenOut(ApiModel):
    id: str = Field(description="The refresh-token family (one grant and its rotations).")
    client_id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime

    @classmethod
    def of(cls, family: RefreshTokenFamily) -> RefreshTokenOut:
        return cls(
            id=family.family_id,
            client_id=family.client_id,
            created_at=family.created_at,
            last_used_at=family.last_used_at,
            expires_at=family.expires_at,
        )


class RefreshTokenList(ApiModel):
    items: list[RefreshTokenOut]


class IdentityOut(ApiModel):
    id: int
    connector: str
    subject: str
    email: str | None
    linked_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, link: Identity) -> IdentityOut:
        return cls(
            id=link.id,
            connector=link.connector_id,
            subject=link.subject,
            email=link.email,
            linked_at=link.created_at,
            last_login_at=link.last_login_at,
        )


class IdentityList(ApiModel):
    items: list[IdentityOut]


class PasswordReset(ApiModel):
    emailed: bool = Field(description="Whether the link was mailed to the user (`smtp:`).")
    link: str | None = Field(
        description="The one-time reset link when it was not mailed: shown only in this "
        "answer, to pass on to the user; null when mailed."
    )


class Revoked(ApiModel):
    revoked: int = Field(description="How many sessions and tokens ended.")


def _users(request: Request) -> UserAdmin:
    return services_of(request).ready().admin.users


def _one(row: UserRow, response: Response) -> UserOut:
    response.headers["etag"] = etag(UserAdmin.version(row))
    return UserOut.of(row)


ETAG_HEADER = {"description": "The user's version, for If-Match.", "schema": {"type": "string"}}


def _tagged(status: int = 200, **extra: Any) -> dict[int | str, dict[str, Any]]:
    """A response that carries the user's ETag (and `extra` headers)."""
    return {status: {"headers": {"ETag": ETAG_HEADER, **extra}}}


MERGE_PATCH = {
    "requestBody": {
        "content": {
            media: {"schema": {"$ref": "#/components/schemas/UserPatch"}}
            for media in ("application/merge-patch+json", "application/json")
        },
        "required": True,
    }
}


@router.get("", operation_id="listUsers", summary="Search users")
def list_users(
    request: Request,
    _caller: Read,
    q: Annotated[
        str | None,
        Query(max_length=320, description="Prefix of the username, email or display name."),
    ] = None,
    team: Annotated[str | None, Query(max_length=64, description="A team id.")] = None,
    role: Annotated[
        str | None,
        Query(max_length=64, description="Holds this role at system scope (own or a team's)."),
    ] = None,
    source: Annotated[
        str | None,
        Query(max_length=160, description="`local`, a connector id, or `scim:<source>`."),
    ] = None,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> UserList:
    filters = user_filter(q=q, team=team, role=role, source=source, status=status)
    page = _users(request).search(filters, PageRequest.of(limit, cursor))
    return UserList(items=[UserOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    operation_id="createUser",
    summary="Create a local account",
    status_code=201,
    responses={
        **problems(409),
        **_tagged(201, Location={"description": "The new user.", "schema": {"type": "string"}}),
    },
)
def create_user(body: UserCreate, request: Request, response: Response, caller: Write) -> UserOut:
    demand_roles(request, caller, [body.role or BASE_ROLE], "giving a new user a role")
    row = _users(request).create(
        caller.actor,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
    )
    response.headers["location"] = f"{router.prefix}/{row.user.id}"
    return _one(row, response)


@router.get(
    "/{user_id}",
    operation_id="getUser",
    summary="Get a user",
    responses={**problems(404), **_tagged()},
)
def get_user(user_id: UserId, request: Request, response: Response, _caller: Read) -> UserOut:
    return _one(_users(request).get(user_id), response)


@router.patch(
    "/{user_id}",
    operation_id="updateUser",
    summary="Change a user (JSON Merge Patch, If-Match required)",
    responses={**problems(404, 409, 412, 428), **_tagged()},
    openapi_extra=MERGE_PATCH,
)
def update_user(
    user_id: UserId, body: UserPatch, request: Request, response: Response, caller: Write
) -> UserOut:
    changes = body.members()
    if "email" in changes:
        # The email is where password-reset links go (and, for a local account, the
        # username): moving it is taking the account, so the caller must be able to grant
        # what the account holds.
        roles = services_of(request).ready().bindings.held_roles(user_id)
        demand_roles(request, caller, roles, "changing the email of a user with a role")
    row = _users(request).update(caller.actor, user_id, changes, if_match(request))
    return _one(row, response)


@router.post(
    "/{user_id}/disable",
    operation_id="disableUser",
    summary="Disable a user and end every session and token",
    responses={**problems(404), **_tagged()},
)
def disable_user(user_id: UserId, request: Request, response: Response, caller: Write) -> UserOut:
    return _one(_users(request).disable(caller.actor, user_id)[0], response)


@router.post(
    "/{user_id}/enable",
    operation_id="enableUser",
    summary="Enable a user",
    responses={**problems(404), **_tagged()},
)
def enable_user(user_id: UserId, request: Request, response: Response, caller: Write) -> UserOut:
    return _one(_users(request).enable(caller.actor, user_id), response)


@router.delete(
    "/{user_id}",
    operation_id="deleteUser",
    summary="Delete a user (every session and token ends first)",
    status_code=204,
    responses=problems(404, 409),
)
def delete_user(user_id: UserId, request: Request, caller: Write) -> None:
    _users(request).delete(caller.actor, user_id)


@router.post(
    "/{user_id}/revoke",
    operation_id="revokeUserCredentials",
    summary="End every session and refresh token; keep the account",
    responses=problems(404),
)
def revoke_user(user_id: UserId, request: Request, caller: Write) -> Revoked:
    return Revoked(revoked=_users(request).revoke(caller.actor, user_id))


@router.post(
    "/{user_id}/password-reset",
    operation_id="resetUserPassword",
    summary="Make a one-time password-reset link for a local account (mailed, or returned)",
    responses=problems(403, 404),
)
def reset_password(
    user_id: UserId, request: Request, response: Response, caller: Write
) -> PasswordReset:
    users = _users(request)
    if not users.resets_mailed:
        # The link comes back to the caller: whoever holds it holds the account's roles.
        roles = services_of(request).ready().bindings.held_roles(users.get(user_id).user.id)
        demand_roles(request, caller, roles, "a password-reset link for a user with a role")
    link = users.reset_password(caller.actor, user_id)
    response.headers["cache-control"] = "no-store"
    return PasswordReset(emailed=link is None, link=link)


@router.get(
    "/{user_id}/sessions",
    operation_id="listUserSessions",
    summary="A user's browser sessions",
    responses=problems(404),
)
def list_sessions(user_id: UserId, request: Request, _caller: Read) -> SessionList:
    return SessionList(items=[SessionOut.of(s) for s in _users(request).sessions(user_id)])


@router.delete(
    "/{user_id}/sessions/{session_id}",
    operation_id="endUserSession",
    summary="End one browser session",
    status_code=204,
    responses=problems(404),
)
def end_session(
    user_id: UserId,
    session_id: Annotated[str, Path(max_length=64)],
    request: Request,
    caller: Write,
) -> None:
    _users(request).end_session(caller.actor, user_id, session_id)


@router.get(
    "/{user_id}/refresh-tokens",
    operation_id="listUserRefreshTokens",
    summary="A user's live refresh-token families",
    responses=problems(404),
)
def list_refresh_tokens(user_id: UserId, request: Request, _caller: Read) -> RefreshTokenList:
    families = _users(request).refresh_tokens(user_id)
    return RefreshTokenList(items=[RefreshTokenOut.of(f) for f in families])


@router.delete(
    "/{user_id}/refresh-tokens/{family_id}",
    operation_id="revokeUserRefreshToken",
    summary="Revoke a refresh-token family",
    status_code=204,
    responses=problems(404),
)
def revoke_refresh_token(
    user_id: UserId,
    family_id: Annotated[str, Path(max_length=64)],
    request: Request,
    caller: Write,
) -> None:
    _users(request).revoke_refresh_family(caller.actor, user_id, family_id)


@router.get(
    "/{user_id}/identities",
    operation_id="listUserIdentities",
    summary="A user's identity-provider links",
    responses=problems(404),
)
def list_identities(user_id: UserId, request: Request, _caller: Read) -> IdentityList:
    return IdentityList(items=[IdentityOut.of(i) for i in _users(request).identities(user_id)])


@router.delete(
    "/{user_id}/identities/{identity_id}",
    operation_id="unlinkUserIdentity",
    summary="Unlink an identity (not the only way into an account without a password)",
    status_code=204,
    responses=problems(404),
)
def unlink_identity(
    user_id: UserId,
    identity_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    caller: Write,
) -> None:
    _users(request).unlink_identity(caller.actor, user_id, identity_id)
