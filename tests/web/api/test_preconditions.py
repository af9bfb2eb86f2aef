"""`ETag` and `If-Match` (RFC 9110 §8.8.3, §13.1.1, RFC 6585 §3) as the admin API's writes
use them: a strong tag on read; a write without `If-Match` is 428, with another version 412
(both problem documents), with the current one or `*` it proceeds. If-Match uses the strong
comparison, so a weak tag never matches; a list is answered 412 (conservative: the client
reads again), never a false match."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Request, Response
from starlette.datastructures import Headers

from authbridge.admin.errors import PreconditionFailed, PreconditionRequired
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.preconditions import etag, if_match
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api, assert_problem

PATH = "/api/v1/test-versioned"
router = APIRouter(prefix=PATH)
state = {"version": 1, "value": "first"}


@router.get("")
async def read(response: Response, _caller: Annotated[Caller, Permission("roles.read")]) -> str:
    response.headers["etag"] = etag(str(state["version"]))
    return str(state["value"])


@router.put("")
async def write(
    value: str,
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Permission("roles.read")],
) -> str:
    # What an admin service does inside its write transaction.
    expected = if_match(request)
    if expected is None:
        raise PreconditionRequired("this write needs If-Match")
    if expected not in ("*", str(state["version"])):
        raise PreconditionFailed("it changed since it was read")
    state.update(version=int(state["version"]) + 1, value=value)
    response.headers["etag"] = etag(str(state["version"]))
    return value


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    state.update(version=1, value="first")
    app = create_app(make_settings(sqlite_url))
    app.include_router(router)
    with started_clients() as start:
        yield Api(start(app))


def request_with(value: str | None) -> Request:
    headers = Headers({"if-match": value} if value is not None else {})
    return Request({"type": "http", "method": "PUT", "path": "/", "headers": headers.raw})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("*", "*"),
        ('"3"', "3"),
        ('  "3"  ', "3"),  # optional whitespace around a field value (RFC 9110 §5.5)
        ('"sha-abc"', "sha-abc"),
    ],
)
def test_if_match_names_a_version(header: str | None, expected: str | None) -> None:
    assert if_match(request_with(header)) == expected


@pytest.mark.parametrize(
    "header", ['W/"3"', "3", '"3', '"3", "4"', '"3","3"', '""3""', "", '"' + "3" * 600 + '"']
)
def test_anything_else_matches_no_version(header: str) -> None:
    named = if_match(request_with(header))
    assert named is not None and named not in ("3", "*", "")


def test_an_etag_round_trips_through_if_match() -> None:
    for version in ("1", "42", "sha256-AbC_-.~+/=", "!#$%&'()*"):
        assert if_match(request_with(etag(version))) == version


@pytest.mark.parametrize("version", ["", 'a"b', "a b", "é", "a\x00", "line\n"])
def test_a_version_a_tag_cannot_carry_is_a_bug_caught_early(version: str) -> None:
    with pytest.raises(ValueError):
        etag(version)


def test_read_then_write_with_the_tag(api: Api) -> None:
    read_back = api.get(PATH)
    tag = read_back.headers["etag"]
    assert tag == '"1"'
    written = api.put(PATH, params={"value": "second"}, headers={"if-match": tag})
    assert written.status_code == 200 and written.headers["etag"] == '"2"'


def test_a_write_without_if_match_is_428(api: Api) -> None:
    assert_problem(api.put(PATH, params={"value": "x"}), 428, "precondition-required")


def test_a_lost_update_is_412(api: Api) -> None:
    tag = api.get(PATH).headers["etag"]
    assert api.put(PATH, params={"value": "a"}, headers={"if-match": tag}).status_code == 200
    stale = api.put(PATH, params={"value": "b"}, headers={"if-match": tag})
    assert_problem(stale, 412, "precondition-failed")
    assert api.get(PATH).json() == "a"


def test_a_weak_tag_never_matches(api: Api) -> None:
    # RFC 9110 §13.1.1: If-Match uses the strong comparison function.
    response = api.put(PATH, params={"value": "x"}, headers={"if-match": 'W/"1"'})
    assert_problem(response, 412, "precondition-failed")


def test_star_matches_any_current_version(api: Api) -> None:
    response = api.put(PATH, params={"value": "x"}, headers={"if-match": "*"})
    assert response.status_code == 200
