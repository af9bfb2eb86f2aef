"""`/api/v1/keys`: token signing keys, public facts only (`keys.read`), and rotation
(`keys.write`): the new key is published now and signs after `tokens.keyPublishAhead`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from starlette.requests import Request

from authbridge.admin.keys import KeyView
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.camel import ApiModel
from authbridge.web.dependencies import services_of

__all__ = ["KeyOut", "router"]

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class KeyOut(ApiModel):
    kid: str
    alg: str
    created: datetime
    signs_from: datetime
    state: Literal["next", "signing", "retired"]
    published_until: datetime | None

    @classmethod
    def of(cls, view: KeyView) -> KeyOut:
        return cls(
            kid=view.kid,
            alg=view.alg,
            created=view.created,
            signs_from=view.signs_from,
            state=view.state,
            published_until=view.published_until,
        )


class KeyList(ApiModel):
    items: list[KeyOut]
    next_cursor: str | None = None


@router.get("", operation_id="listKeys", summary="List signing keys (newest first)")
async def list_keys(
    request: Request, _caller: Annotated[Caller, Permission("keys.read")]
) -> KeyList:
    return KeyList(items=[KeyOut.of(k) for k in services_of(request).ready().admin.keys.list()])


@router.post("/rotate", operation_id="rotateKeys", summary="Publish a new signing key")
async def rotate_keys(
    request: Request, caller: Annotated[Caller, Permission("keys.write")]
) -> KeyOut:
    return KeyOut.of(services_of(request).ready().admin.keys.rotate(caller.actor))
