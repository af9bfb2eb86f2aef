"""The JWKS and discovery documents answered before routing (web/wellknown.PublicDocuments):
the same answer as the routes give, with the request id, access log, metrics and security
headers every other answer gets; storage reads never on the event loop."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from authbridge.web.services import Services
from authbridge.web.wellknown import DISCOVERY_PATH, JWKS_PATH, WELL_KNOWN_JWKS

SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options")


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def _routed_then_inline(client: TestClient, path: str) -> tuple[httpx.Response, httpx.Response]:
    """One answer from the route (the key set due for reload), the next one inline."""
    _services(client).ready().keyring.invalidate()
    routed = client.get(path)
    inline = client.get(path)
    return routed, inline


@pytest.mark.parametrize("path", [JWKS_PATH, WELL_KNOWN_JWKS])
def test_inline_jwks_is_the_routes_answer(client: TestClient, path: str) -> None:
    routed, inline = _routed_then_inline(client, path)
    assert routed.status_code == inline.status_code == 200
    assert routed.content == inline.content

    def comparable(response: httpx.Response) -> list[tuple[str, str]]:
        return [(k, v) for k, v in response.headers.items() if k != "x-request-id"]

    assert comparable(routed) == comparable(inline)
    for name in (*SECURITY, "x-request-id", "etag"):
        assert name in inline.headers


def test_inline_answers_304_only_to_the_current_etag(client: TestClient) -> None:
    for path in (JWKS_PATH, DISCOVERY_PATH):
        first = client.get(path)
        etag = first.headers["etag"]
        again = client.get(path, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and "x-request-id" in again.headers
        other = client.get(path, headers={"if-none-match": '"not-it"'})
        assert other.status_code == 200 and other.content == first.content


def test_a_rotated_key_is_published_inline_at_once(client: TestClient) -> None:
    before = client.get(JWKS_PATH).json()
    row = _services(client).ready().keyring.rotate()
    after = client.get(JWKS_PATH).json()
    assert row.kid in {k["kid"] for k in after["keys"]}
    assert row.kid not in {k["kid"] for k in before["keys"]}


def test_other_methods_and_paths_go_to_the_router(client: TestClient) -> None:
    assert client.post(JWKS_PATH).status_code == 405
    assert client.head(DISCOVERY_PATH).status_code == 405
    assert client.get(JWKS_PATH + "/").status_code in (200, 307, 404)
