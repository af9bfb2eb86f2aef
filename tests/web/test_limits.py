"""Request bodies are limited while they stream (web/limits.py), on every route.

The app is driven at the ASGI level so the test sees exactly how much of a body was pulled:
a declared Content-Length over the limit is refused before any, a chunked body is cut off as
soon as it passes the limit, and a form with too many or too large fields is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import AppFactory

CHUNK = 16 * 1024
FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


class Upload:
    """An ASGI `receive` that hands out a body chunk by chunk and counts what was pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __call__(self) -> dict[str, Any]:
        if self.pulled >= len(self.chunks):
            await asyncio.sleep(3600)  # a client that holds the connection open
        self.pulled += 1
        more = self.pulled < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[self.pulled - 1], "more_body": more}


def _call(
    client: TestClient, path: str, headers: list[tuple[bytes, bytes]], upload: Upload
) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost:8080"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("localhost", 8080),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(client.app(scope, upload, send), timeout=30)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert [m["type"] for m in sent].count("http.response.start") == 1  # one answer only
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers_out, body


def _is_problem(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == 413 and problem["title"] == "Content Too Large"
    return problem


@pytest.mark.parametrize("path", ["/oauth2/token", "/login", "/v1/oauth/redirect/", "/nowhere"])
def test_a_huge_declared_length_is_refused_before_a_byte_is_read(
    client: TestClient, path: str
) -> None:
    upload = Upload([b"x" * CHUNK] * 6144)  # 96 MiB, should it be read
    declared = [(b"content-length", str(96 * 1024 * 1024).encode()), *FORM]
    status, headers, body = _call(client, path, declared, upload)
    assert status == 413
    assert "65536 bytes" in _is_problem(headers, body)["detail"]
    assert upload.pulled == 0


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(client: TestClient) -> None:
    # No Content-Length; each chunk a field of its own, so only the body limit can stop it.
    upload = Upload([b"&f=" + b"x" * (CHUNK - 3)] * 6144)
    status, headers, body = _call(client, "/oauth2/token", FORM, upload)
    assert status == 413
    _is_problem(headers, body)
    # 64 KiB is four 16 KiB chunks: the fifth passes the limit, and nothing after it is read.
    assert upload.pulled == 5


def test_a_form_with_too_many_fields_is_refused(client: TestClient) -> None:
    many = b"&".join(b"f%d=1" % i for i in range(101))  # 101 fields, 1 KiB in all
    status, headers, body = _call(client, "/login", FORM, Upload([many]))
    assert status == 413
    assert "more than 100 fields" in _is_problem(headers, body)["detail"]


def test_a_form_field_over_the_field_limit_is_refused(client: TestClient) -> None:
    upload = Upload([b"username=a&password=" + b"p" * CHUNK, b"p" * CHUNK, b"p" * CHUNK])
    status, headers, body = _call(client, "/login", FORM, upload)
    assert status == 413
    assert "field is larger than 32768" in _is_problem(headers, body)["detail"]
    assert upload.pulled == 2  # the password passes 32 KiB in the second chunk


def test_multipart_fields_are_counted_too(client: TestClient) -> None:
    part = b'--XyZ\r\nContent-Disposition: form-data; name="f"\r\n\r\n1\r\n'
    body = part * 101 + b"--XyZ--\r\n"
    # Split inside a boundary, so a separator across two chunks is still counted.
    upload = Upload([body[:50], body[50:]])
    multipart = [(b"content-type", b"multipart/form-data; boundary=XyZ")]
    status, headers, out = _call(client, "/login", multipart, upload)
    assert status == 413
    assert "fields" in _is_problem(headers, out)["detail"]


def test_limits_are_per_route_scim_answers_in_its_own_format(app_factory: AppFactory) -> None:
    client = app_factory(SCIM__OKTA__AUTH_CODE="okta:secret")
    scim = [
        (b"content-type", b"application/scim+json"),
        (b"authorization", b"Basic " + base64.b64encode(b"okta:secret")),
    ]
    # 1 MiB fits SCIM's own limit (4 MiB) though it is far over the forms' 64 KiB ...
    upload = Upload([b"x" * CHUNK] * 64)
    status, _, _ = _call(client, "/v1/scim/v2/okta/Users", scim, upload)
    assert status != 413 and upload.pulled == 64
    # ... and past SCIM's limit the refusal is an RFC 7644 §3.12 error, chunked or declared.
    upload = Upload([b"x" * CHUNK] * 512)
    status, headers, body = _call(client, "/v1/scim/v2/okta/Users", scim, upload)
    assert status == 413 and headers["content-type"] == "application/scim+json"
    error = json.loads(body)
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert error["status"] == "413"
    assert upload.pulled == 4 * 1024 * 1024 // CHUNK + 1


def test_forms_within_the_limits_still_work(client: TestClient) -> None:
    response = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "pad": "x" * 30_000}
    )
    assert response.status_code in (400, 401)  # an OAuth answer, not 413
    assert response.json()["error"]
