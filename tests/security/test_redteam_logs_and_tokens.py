"""Red team on the hand-rendered access-log line (branch `publicspeed`) and the faster token
decoding (branch `verifyspeed`).

Tried and held, pinned here:
- the access line, rendered by hand or by structlog, stays one valid JSON line whatever the
  path (CR, LF, U+2028, quotes, backslashes, NUL and other control characters, non-ASCII,
  30 KB) or the request id header holds, and keeps no one-time link token, `code=`,
  Bearer credential or JWT out of a path (the query string is never logged);
- a malformed bearer token is a clean 401 at userinfo and at the admin API: non-canonical
  base64url, padding, the standard alphabet, too many or too few segments, a huge header,
  duplicate header names, `alg: none`, HS256 keyed with the published public key, a kid
  that is a path or huge, a header that is not an object.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from authbridge.web.observability import LINK_PAGES, AccessLog, configure_logging
from tests.security.conftest import AppFactory

LINK_TOKEN = "s3cr3t-link-token-0123456789"
JWT_IN_PATH = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl"
NASTY_PATHS = [
    LINK_PAGES[0] + LINK_TOKEN,
    "/x%0A%7B%22level%22:%22error%22%7D%0D",  # a forged second line
    "/q%22uote%5Cback%5Cslash%09tab%00nul%1Besc",
    "/caf%C3%A9/%E2%80%A8/%E2%80%A9",
    "/" + JWT_IN_PATH,
    "/Bearer%20mF_9.B5f-4.1JqM",
    "/" + "a" * 30_000,
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.split("\n") if line]
    return [json.loads(line) for line in lines]  # every line, whole, is JSON


@pytest.fixture
def json_logs() -> Any:
    configure_logging("info", "json")
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def test_each_request_is_one_valid_json_line_without_secrets(
    app_factory: AppFactory, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    capsys.readouterr()
    for path in NASTY_PATHS:
        client.get(
            path + "?code=query-secret&state=s",
            headers={"x-request-id": "req-1"},
            follow_redirects=False,
        )
    client.get("/", headers={"x-request-id": 'bad"id\\with'}, follow_redirects=False)
    err = capsys.readouterr().err
    requests = [line for line in _lines(err) if line.get("event") == "request"]
    assert len(requests) == len(NASTY_PATHS) + 1
    for secret in (LINK_TOKEN, "query-secret", "mF_9.B5f-4.1JqM", "c2lnbmF0dXJl"):
        assert secret not in err
    assert '"level": "error"' not in err.replace('\\"', "")  # no forged line
    assert requests[-1]["request_id"] != 'bad"id\\with'


@pytest.mark.parametrize(
    "path",
    [
        '/x\n{"level": "error"}\r',
        "/\x00\x1b\x7f\u2028\u2029\ud800",
        LINK_PAGES[-1] + LINK_TOKEN + "\n",
        "/" + "\\" * 10_000,
    ],
)
def test_the_hand_rendered_line_is_one_json_line(
    json_logs: None, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    capsys.readouterr()
    AccessLog()._render("req-1", "GET\n", path, "unmatched", 404, 1.0)
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "request" and line["status"] == 404
    assert LINK_TOKEN not in json.dumps(line)


def _signed_like(client: TestClient) -> tuple[dict[str, Any], str]:
    """The published key and a header and payload of the provider's shape."""
    jwks = client.get("/.well-known/jwks.json").json()
    key = jwks["keys"][0]
    return key, _b64(json.dumps({"sub": "ada", "iss": "http://testserver"}).encode())


def _bad_tokens(client: TestClient) -> list[str]:
    key, payload = _signed_like(client)
    kid = key["kid"]
    head = _b64(json.dumps({"alg": key["alg"], "kid": kid, "typ": "at+jwt"}).encode())
    sig = _b64(b"\x01" * 64)
    hs_header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "at+jwt"}).encode())
    public = json.dumps(key, separators=(",", ":")).encode()
    hs = _b64(hmac.new(public, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest())
    dup = b'{"alg":"none","alg":"' + key["alg"].encode() + b'","kid":"' + kid.encode() + b'"}'
    return [
        f"{head}.{payload}.{sig}",
        f"{head}=.{payload}.{sig}",
        f"{head}.{payload}.{sig}".replace("-", "+").replace("_", "/") + "+/",
        f"{head[:-1]}{'B' if head[-1] == 'A' else 'A'}.{payload}.{sig}",
        f"{head}.{payload}",
        f"{head}.{payload}.{sig}.{sig}",
        f"{head}.{payload}.{sig}.{sig}.{sig}",
        f"{_b64(json.dumps({'alg': 'none', 'typ': 'at+jwt'}).encode())}.{payload}.",
        f"{_b64(json.dumps({'alg': 'none', 'typ': 'at+jwt'}).encode())}.{payload}.{sig}",
        f"{hs_header}.{payload}.{hs}",
        f"{_b64(dup)}.{payload}.{sig}",
        f"{_b64(json.dumps({'alg': 'ES256', 'kid': '../../etc/passwd'}).encode())}.{payload}.{sig}",
        f"{_b64(json.dumps({'alg': 'ES256', 'kid': 'k' * 20_000}).encode())}.{payload}.{sig}",
        f"{_b64(b'[1,2]')}.{payload}.{sig}",
        f"{_b64(b'not json')}.{payload}.{sig}",
        f"{_b64(json.dumps({'alg': 'ES256', 'crit': ['exp']}).encode())}.{payload}.{sig}",
        "a" * 9000,
    ]


def test_malformed_tokens_are_a_clean_401(app_factory: AppFactory) -> None:
    client = app_factory()
    for token in _bad_tokens(client):
        headers = {"authorization": f"Bearer {token}"}
        userinfo = client.get("/oauth2/userinfo", headers=headers)
        assert userinfo.status_code in (400, 401), (token[:80], userinfo.text[:200])
        api = client.get("/api/v1/users", headers=headers)
        assert api.status_code in (400, 401), (token[:80], api.text[:200])
