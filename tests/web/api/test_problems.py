"""The admin API's errors against RFC 9457 (problem details) and RFC 6750 §3 (the bearer
challenge), read from the RFCs' text rather than from our own output: every error under
/api/v1/, whoever raises it (an admin service, the request parser, the router, the body
limit, a database outage), is the same kind of document.

A small router with a request body (`echo.py`) is mounted beside the real ones, so the
parser's errors are tested before any resource with a body exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from authbridge.web.api.openapi import PROBLEM_REF, document
from authbridge.web.api.problems import _challenge
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api
from tests.web.api.echo import PROBLEM_PATH, echo
from tests.web.test_database_outage import every_connection_held


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    app = create_app(
        make_settings(sqlite_url, DATABASE__POOL_SIZE="1", DATABASE__POOL_TIMEOUT="0.5")
    )
    app.include_router(echo)
    with started_clients() as start:
        yield Api(start(app, raise_server_exceptions=False))


# RFC 9457 §3.1: the members and their JSON types; §3.1.1 `type` is a URI reference (RFC 3986
# §4.1), and ours are absolute: `scheme ":" ...` (RFC 3986 §3.1).
MEMBER_TYPES = {"type": str, "title": str, "status": int, "detail": str, "instance": str}
ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """RFC 9457 §3: `application/problem+json`; the members, when present, of their type;
    `status` (§3.1.2) the status actually sent; `title` (§3.1.3) a summary."""
    assert response.status_code == status, response.text
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type == "application/problem+json"
    body = response.json()
    assert isinstance(body, dict)
    for member, kind in MEMBER_TYPES.items():
        if member in body:
            assert isinstance(body[member], kind), (member, body)
    assert ABSOLUTE_URI.match(body["type"]), body
    assert body["status"] == status
    assert body["title"].strip()
    # A problem describes this request: no shared cache may hand it to another.
    assert "no-store" in response.headers.get("cache-control", "")
    return dict(body)


def post(api: Api, content: bytes | str, **headers: str) -> httpx.Response:
    headers.setdefault("content-type", "application/json")
    return api.post(PROBLEM_PATH, content=content, headers=headers)


# --- 400: the request's content ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "a", "count": ', None),  # truncated JSON
        ('{"name": "a", "count": "many"}', "count"),  # wrong type
        ('{"name": "a", "count": 1, "colour": "red"}', "colour"),  # unknown member
        ('{"name": "' + "x" * 21 + '", "count": 1}', "name"),  # over a declared length
        ('{"name": "a", "count": 1, "tags": ["1", "2", "3", "4"]}', "tags"),  # too many items
        ('{"count": 1}', "name"),  # missing member
        ("[]", None),  # not an object
        ("", None),  # no body at all
    ],
)
def test_invalid_content_is_400_listing_each_field(api: Api, body: str, field: str | None) -> None:
    response = post(api, body)
    document = problem(response, 400)
    errors = document["errors"]
    assert errors and all(set(e) == {"field", "message"} for e in errors), document
    assert all(isinstance(e["field"], str) and e["message"] for e in errors)
    if field is not None:
        assert field in {e["field"] for e in errors}, errors


def test_malformed_json_is_blamed_on_the_body(api: Api) -> None:
    errors = problem(post(api, '{"name": "a", "count": '), 400)["errors"]
    assert [e["field"] for e in errors] == ["body"]
    assert "JSON" in errors[0]["message"]


def test_a_malformed_path_parameter_is_400_naming_it(api: Api) -> None:
    document = problem(api.get(PROBLEM_PATH + "/not-a-number"), 400)
    assert [e["field"] for e in document["errors"]] == ["number"]


def test_every_400_is_one_kind_with_one_title(api: Api) -> None:
    """RFC 9457 §3.1.3: the title does not change from occurrence to occurrence of a type;
    whatever noticed the bad input (parser, limit check, database), it is one kind."""
    documents = [
        problem(post(api, "{"), 400),
        problem(post(api, '{"name": 1, "count": 1}'), 400),
        problem(api.get(PROBLEM_PATH + "/x"), 400),
    ]
    kinds = {(d["type"], d["title"]) for d in documents}
    assert len(kinds) == 1, kinds


def test_a_value_the_database_refuses_is_the_same_400_kind(api: Api) -> None:
    refused = problem(api.put(PROBLEM_PATH), 400)
    parsed = problem(post(api, "{"), 400)
    assert (refused["type"], refused["title"]) == (parsed["type"], parsed["title"])
    assert refused["errors"] == []


def test_a_bug_is_a_500_problem_that_tells_nothing_of_it(api: Api) -> None:
    document = problem(api.delete(PROBLEM_PATH), 500)
    assert "a bug" not in document["detail"] and "RuntimeError" not in document["detail"]


def test_an_oversize_body_is_413_as_a_problem_document(api: Api) -> None:
    limit = max_bytes(api)
    big = '{"name": "a", "count": 1, "pad": "' + "x" * limit + '"}'
    document = problem(post(api, big), 413)
    assert document["type"].endswith(":too-large")


def test_an_oversize_chunked_body_is_413_as_a_problem_document(api: Api) -> None:
    limit = max_bytes(api)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "a", "pad": "'
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024

    response = api.post(
        PROBLEM_PATH, content=chunks(), headers={"content-type": "application/json"}
    )
    assert problem(response, 413)["type"].endswith(":too-large")


def max_bytes(api: Api) -> int:
    limit: int = api.client.app.state.services.settings.server.max_request_bytes  # type: ignore[attr-defined]
    return limit


# --- 404, 405: the router ------------------------------------------------------------------


def test_an_unknown_path_and_an_unknown_resource_are_the_same_kind(api: Api) -> None:
    unrouted = problem(api.get("/api/v1/no-such-collection"), 404)
    missing = problem(api.get("/api/v1/roles/no-such-role"), 404)
    assert (unrouted["type"], unrouted["title"]) == (missing["type"], missing["title"])


def test_an_unknown_path_is_404_even_without_a_token(api: Api) -> None:
    problem(api.get("/api/v1/no-such-collection", role=None), 404)


def test_a_method_the_resource_lacks_is_405_with_allow(api: Api) -> None:
    response = api.delete("/api/v1/roles")
    document = problem(response, 405)
    # RFC 9110 §15.5.6: a 405 MUST carry Allow, listing the methods the resource supports.
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert "GET" in allowed and "DELETE" not in allowed
    assert document["type"] != problem(api.get("/api/v1/nothing"), 404)["type"]


def test_types_are_stable_per_kind(api: Api) -> None:
    """The same kind of problem has the same `type` each time (a client switches on it)."""
    first = problem(api.get("/api/v1/nothing-here"), 404)["type"]
    second = problem(api.get("/api/v1/nothing-there"), 404)["type"]
    assert first == second
    assert problem(post(api, "{"), 400)["type"] == problem(post(api, "[1]"), 400)["type"]
    assert len({first, problem(post(api, "{"), 400)["type"]}) == 2


# --- 503: the database ---------------------------------------------------------------------


@pytest.fixture
def exhausted(api: Api) -> Iterator[Api]:
    api.token("admin")  # minted while the database answers
    with every_connection_held(api.ready.storage.db.engine):
        yield api


def test_a_database_outage_is_503_with_retry_after(exhausted: Api) -> None:
    response = exhausted.get("/api/v1/roles")
    document = problem(response, 503)
    # RFC 9110 §10.2.3: delay-seconds.
    assert response.headers["retry-after"].isdigit()
    assert document["title"]


# --- 401, 403: RFC 6750 §3 -----------------------------------------------------------------

# RFC 6750 §3: `Bearer` then auth-params (RFC 9110 §11.2, quoted values); error and
# error_description values are limited to NQSCHAR (%x20-21 / %x23-5B / %x5D-7E).
PARAM = re.compile(r'\s*([A-Za-z_]+)="([\x20\x21\x23-\x5b\x5d-\x7e]*)"\s*(?:,|$)')


def challenge(response: httpx.Response) -> dict[str, str]:
    header = response.headers["www-authenticate"]
    scheme, _, params = header.partition(" ")
    assert scheme == "Bearer", header
    parsed: dict[str, str] = {}
    position = 0
    while position < len(params):
        match = PARAM.match(params, position)
        assert match, f"not an RFC 6750 auth-param list: {header!r}"
        assert match.group(1) not in parsed, "§3: each attribute at most once"
        parsed[match.group(1)] = match.group(2)
        position = match.end()
    return parsed


def test_no_credentials_get_a_challenge_without_an_error_code(api: Api) -> None:
    response = api.get("/api/v1/roles", role=None)
    problem(response, 401)
    # §3.1: "If the request lacks any authentication information ... the resource server
    # SHOULD NOT include an error code or other error information."
    assert set(challenge(response)) == {"realm"}


def test_another_scheme_counts_as_no_bearer_credentials(api: Api) -> None:
    response = api.get("/api/v1/roles", role=None, headers={"authorization": "Basic YTpi"})
    problem(response, 401)
    assert "error" not in challenge(response)


def test_an_invalid_token_is_401_invalid_token(api: Api) -> None:
    response = api.get("/api/v1/roles", role=None, headers={"authorization": "Bearer a.b.c"})
    problem(response, 401)
    params = challenge(response)
    assert params["error"] == "invalid_token"  # §3.1
    assert params["error_description"]


def test_the_scheme_name_is_case_insensitive(api: Api) -> None:
    # RFC 9110 §11.1: the auth-scheme is case-insensitive.
    token = api.token("admin")
    assert api.get(
        "/api/v1/roles", role=None, headers={"authorization": f"bearer {token}"}
    ).is_success


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer " + "a" * 20000])
def test_malformed_bearer_credentials_are_400_invalid_request(api: Api, value: str) -> None:
    response = api.get("/api/v1/roles", role=None, headers={"authorization": value})
    # §3.1 invalid_request: "otherwise malformed ... SHOULD respond with HTTP 400".
    assert problem(response, 400)["errors"]
    assert challenge(response)["error"] == "invalid_request"


def test_insufficient_permission_is_403_insufficient_scope(api: Api) -> None:
    response = api.get("/api/v1/roles", role="viewer")
    problem(response, 403)
    params = challenge(response)
    assert params["error"] == "insufficient_scope"  # §3.1
    assert "error_description" in params


@pytest.mark.parametrize("query", [{"cursor": "!!!"}, {"cursor": "A" * 5000}, {"limit": "0"}])
def test_a_bad_page_request_is_400_naming_the_parameter(api: Api, query: dict[str, str]) -> None:
    document = problem(api.get(PROBLEM_PATH, params=query), 400)
    assert [e["field"] for e in document["errors"]] == list(query)


def test_the_document_lists_the_problems_the_foundation_can_answer() -> None:
    """Documented, so a client (and schemathesis) expects them: 400/401/403/503 everywhere,
    413 wherever there is a body, each an `application/problem+json` `Problem`."""
    paths = document([echo])["paths"]
    post_responses = paths[PROBLEM_PATH]["post"]["responses"]
    get_responses = paths[PROBLEM_PATH + "/{number}"]["get"]["responses"]
    for status in ("400", "401", "403", "503", "413"):
        content = post_responses[status]["content"]
        assert content == {"application/problem+json": {"schema": PROBLEM_REF}}
    assert "413" not in get_responses and "422" not in get_responses


def test_every_documented_path_answers_405_with_all_its_methods(api: Api) -> None:
    """RFC 9110 §15.5.6: for each path of the published document, a method it does not
    list is a 405 problem whose Allow names exactly the methods it does list."""
    methods = {"GET", "PUT", "POST", "DELETE", "PATCH"}
    doc = api.get("/api/v1/openapi.json").json()
    for path, item in doc["paths"].items():
        # A valid value for any path parameter (ids are strings or positive integers).
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        listed = {m.upper() for m in item if m.upper() in methods}
        for method in sorted(methods - listed):
            response = api.request(method, concrete, json={} if method != "GET" else None)
            problem(response, 405)
            allowed = {m.strip() for m in response.headers["allow"].split(",")} - {"HEAD"}
            assert allowed == listed, (method, path, response.headers["allow"])


def test_allow_names_the_methods_of_every_route_on_the_path(api: Api) -> None:
    # GET /test-problems and POST, PUT, PATCH, DELETE /test-problems are five routes.
    response = api.request("OPTIONS", PROBLEM_PATH)
    problem(response, 405)
    assert len(response.headers.get_list("allow")) == 1
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= allowed


def test_a_challenge_description_is_kept_to_nqschar() -> None:
    header = _challenge("invalid_token", 'a "quoted" \\ détail\n')
    params = challenge(httpx.Response(401, headers={"www-authenticate": header}))
    assert params["error_description"] == "a ?quoted? ? d?tail?"


def test_a_body_that_is_not_json_is_not_reported_to_an_anonymous_caller(api: Api) -> None:
    """FastAPI parses the body before the route's dependencies run: without a check, an
    anonymous caller's broken JSON would be answered 400 (about the body), not 401."""
    anonymous = api.post(PROBLEM_PATH, role=None, content="{", headers=JSON)
    problem(anonymous, 401)
    assert set(challenge(anonymous)) == {"realm"}
    forged = api.post(PROBLEM_PATH, role=None, content="{", headers={**JSON, **BAD_TOKEN})
    problem(forged, 401)
    assert challenge(forged)["error"] == "invalid_token"
    assert problem(api.post(PROBLEM_PATH, content="{", headers=JSON), 400)["errors"]


JSON = {"content-type": "application/json"}
BAD_TOKEN = {"authorization": "Bearer a.b.c"}
