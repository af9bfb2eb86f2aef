"""A router with a request body and failure modes, mounted beside the real API in tests of
the foundation (problem documents, the CLI client) before any resource with a body exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError

from authbridge.admin.paging import PageRequest, encode_cursor
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.preconditions import if_match

__all__ = ["PROBLEM_PATH", "Thing", "echo"]

PROBLEM_PATH = "/api/v1/test-problems"
echo = APIRouter(prefix=PROBLEM_PATH)


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=20)
    count: int
    tags: list[str] = Field(default_factory=list, max_length=3)


@echo.post("", status_code=201)
async def create_thing(thing: Thing, _caller: Annotated[Caller, Permission("roles.read")]) -> Thing:
    return thing


@echo.get("/{number}")
async def get_thing(number: int, _caller: Annotated[Caller, Permission("roles.read")]) -> Thing:
    return Thing(name="n", count=number)


@echo.put("")
async def store_thing(_caller: Annotated[Caller, Permission("roles.read")]) -> Thing:
    # What the database says of a value it cannot store (a NUL byte in PostgreSQL text).
    raise DataError("INSERT ...", {}, ValueError("invalid byte sequence"))


@echo.delete("")
async def break_thing(_caller: Annotated[Caller, Permission("roles.read")]) -> None:
    raise RuntimeError("a bug")


class ThingList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    items: list[Thing]
    next_cursor: str | None = Field(default=None, alias="nextCursor")


THINGS = 5


@echo.get("")
async def list_things(
    _caller: Annotated[Caller, Permission("roles.read")],
    limit: int | None = None,
    cursor: str | None = None,
) -> ThingList:
    """Five things, two a page unless `limit` says otherwise (keyset on the index)."""
    page = PageRequest.of(2 if limit is None else limit, cursor, key_size=1)
    start = int(page.after[0]) if page.after else 0
    end = min(start + page.limit, THINGS)
    after = encode_cursor([str(end)]) if end < THINGS else None
    items = [Thing(name=f"t{i}", count=i) for i in range(start, end)]
    return ThingList(items=items, next_cursor=after)


@echo.patch("")
async def patch_thing(
    request: Request, _caller: Annotated[Caller, Permission("roles.read")]
) -> Thing:
    """Answers the version `If-Match` named (as `name`)."""
    return Thing(name=str(if_match(request)), count=0)
