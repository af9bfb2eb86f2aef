"""The token endpoint's hand-written ASGI pieces (web/token_endpoint.py) against the library
pieces they replace: the bytes and headers of Starlette's JSONResponse with the no-store
headers and CORS (RFC 6749 §5.1, §5.2), and the form as `urllib.parse.parse_qsl` splits it
(RFC 6749 §3.2, no repeated parameter)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from authbridge.provider.errors import OAuthError
from authbridge.web.token_endpoint import (
    NO_STORE,
    _body,
    error_headers,
    json_parts,
    parse_form,
)

FORM = "application/x-www-form-urlencoded"

BODIES: list[dict[str, Any]] = [
    {"access_token": "eyJ.eyJ.sig", "token_type": "Bearer", "expires_in": 3600},
    {
        "access_token": "a.b.c",
        "token_type": "Bearer",
        "expires_in": 0,
        "scope": "openid profile email",
        "refresh_token": "r-_1",
        "id_token": "i.d.t",
    },
    {"error": "invalid_grant", "error_description": "the code is unknown, expired or not yours"},
    {"error": "invalid_request", "error_description": 'quote " backslash \\ ctrl \x01 é ☃ 𝄞'},
    {"active": False},
    {"active": True, "scope": "a b", "exp": 1, "aud": ["x", "y"], "nested": {"k": [1, 2.5]}},
    {},
]


def _library(
    body: dict[str, Any] | None, status: int, extra: dict[str, str]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """What oauth_routes answered with before: JSONResponse (or an empty Response), then
    `_cors` setting access-control-allow-origin through MutableHeaders."""
    headers = {**NO_STORE, **extra}
    response = (
        Response(status_code=200, headers=headers)
        if body is None
        else JSONResponse(dict(body), status_code=status, headers=headers)
    )
    response.headers["access-control-allow-origin"] = "*"
    return bytes(response.body), list(response.raw_headers)


@pytest.mark.parametrize("body", BODIES)
def test_a_token_answer_has_the_bytes_and_headers_of_jsonresponse(body: dict[str, Any]) -> None:
    assert json_parts(body, cors=True) == _library(body, 200, {})


@pytest.mark.parametrize(
    ("exc", "basic", "extra"),
    [
        (OAuthError("invalid_grant", "no"), False, {}),
        (OAuthError("invalid_client", "no", status=401), False, {"www-authenticate": "Basic"}),
        (
            OAuthError("invalid_client", "no", status=401),
            True,
            {"www-authenticate": 'Basic realm="authbridge"'},
        ),
        (
            OAuthError("temporarily_unavailable", "wait", status=429, retry_after=30),
            True,
            {"retry-after": "30"},
        ),
    ],
)
def test_an_error_answer_has_the_headers_of_jsonresponse(
    exc: OAuthError, basic: bool, extra: dict[str, str]
) -> None:
    """RFC 6749 §5.2: the status, Retry-After when throttled, WWW-Authenticate on a 401."""
    parts = json_parts(exc.as_dict(), exc.status, error_headers(exc, basic=basic), cors=True)
    assert parts == _library(exc.as_dict(), exc.status, extra)


def test_an_empty_answer_matches_the_empty_response() -> None:
    assert json_parts(None, cors=True) == _library(None, 200, {})


_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | _FINITE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _JSON, max_size=6))
def test_any_json_body_encodes_as_jsonresponse_does(body: dict[str, Any]) -> None:
    assert json_parts(body, 400, cors=False)[0] == JSONResponse(body).body


def test_a_non_finite_number_is_refused_as_jsonresponse_refuses_it() -> None:
    with pytest.raises(ValueError):
        JSONResponse({"x": float("nan")})
    with pytest.raises(ValueError):
        json_parts({"x": float("nan")})


FORMS = [
    "",
    "grant_type=client_credentials",
    "grant_type=refresh_token&refresh_token=abc-_DEF&scope=openid+profile",
    "a=&b&=c&&d=%20e%2Bf%26",
    "redirect_uri=https%3A%2F%2Frp.example%2Fcb%3Fx%3D1&code=x%3D%3D",
    "name=%C3%A9t%C3%A9&bad=%ff%fe&half=%e2%98&plain=%zz&pct=%",
    "k+ey=v+al&%6b=%76",
]


@pytest.mark.parametrize("text", FORMS)
def test_the_form_is_split_as_parse_qsl_splits_it(text: str) -> None:
    assert parse_form(FORM, text.encode()) == dict(parse_qsl(text, keep_blank_values=True))


@given(st.lists(st.tuples(st.text(), st.text()), max_size=6, unique_by=lambda kv: kv[0]))
def test_any_form_without_repeats_parses_as_parse_qsl(pairs: list[tuple[str, str]]) -> None:
    raw = "&".join(f"{k}={v}" for k, v in pairs)
    expected = dict(parse_qsl(raw, keep_blank_values=True))
    if len(parse_qsl(raw, keep_blank_values=True)) != len(expected):
        with pytest.raises(OAuthError, match="more than once"):
            parse_form(FORM, raw.encode())
    else:
        assert parse_form(FORM, raw.encode()) == expected


@pytest.mark.parametrize(
    "text", ["a=1&a=2", "grant_type=x&grant%5Ftype=y", "k+=1&k%20=2", "flag&flag="]
)
def test_a_repeated_parameter_is_refused(text: str) -> None:
    """RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once"."""
    with pytest.raises(OAuthError, match="more than once"):
        parse_form(FORM, text.encode())


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b"{}"), ("", b"a=1"), (FORM, b"a=\xff"), ("text/plain", b"")],
)
def test_a_body_that_is_not_utf8_form_data_is_invalid(content_type: str, body: bytes) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_form(content_type, body)
    assert caught.value.error == "invalid_request"


def test_no_body_and_no_type_is_an_empty_form() -> None:
    assert parse_form("", b"") == {}
    assert parse_form("Application/X-WWW-Form-Urlencoded; charset=utf-8", b"a=1") == {"a": "1"}


def test_the_body_is_read_across_messages_and_a_disconnect_raises() -> None:
    def receive_of(*messages: dict[str, Any]) -> Any:
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        return receive

    whole = receive_of(
        {"type": "http.request", "body": b"a=", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"1"},
    )
    assert asyncio.run(_body(whole)) == b"a=1"
    cut = receive_of(
        {"type": "http.request", "body": b"a=", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(ClientDisconnect):
        asyncio.run(_body(cut))
